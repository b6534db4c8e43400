"""The three ways the product runs, one module each: `poll` (scheduled), `hunt` (one-shot
range), `replay` (files). `common` holds what they share.

hunt and replay never read or write the poll checkpoint or matcher state.
"""

from connector.runner.hunt import HuntRequest, hunt
from connector.runner.poll import poll
from connector.runner.replay import replay

__all__ = ["HuntRequest", "hunt", "poll", "replay"]
