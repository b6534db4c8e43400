"""`python -m connector` is the same as the `s1-connector` command."""

from __future__ import annotations

from connector.cli import main

if __name__ == "__main__":
    main()
