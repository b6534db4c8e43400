"""The connector's exceptions, arranged by what the caller should do next.

```
ConnectorError                 root; the CLI catches it once and exits with `.exit_code`
├── UsageError                 bad arguments                                  → 2
├── ConfigError                fix the configuration                          → 78
│   ├── SecretError            no token / unsafe token file                   → 78
│   ├── RuleError              fix the rule file (file, line, column, caret)  → 78
│   └── StateError             the store is corrupt or from a newer version   → 78
├── AuthError                  fix the credentials (401/403)                  → 77
├── RetriableError             try again later or on the next run             → 75
│   ├── RateLimited            carries `retry_after` seconds                  → 75
│   ├── LockHeld               another run holds the lock                     → 75
│   ├── DeadlineReached        the run's time budget is spent                 → 75
│   └── Unavailable            console/source down after retries              → 69
├── BadInputError              input data unreadable as any supported format  → 65
├── DeliveryError              an output could not take an alert              → 3
│   ├── OutputRetriable        try this output again later
│   └── OutputFatal            this output needs a person; alert stays queued
└── OutputClosed               stdout closed by the reader                    → 141
```

Library exceptions (requests, ssl, socket, sqlite3, keyring) are converted into these at
the module that calls the library, with `raise ... from exc`. Everything else catches only
`ConnectorError` subclasses. Messages never contain secrets: they are built from our own
context attributes, and response bodies are parsed for their `errors[].detail` only.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BROKEN_PIPE",
    "EXIT_BUG",
    "EXIT_CONFIG",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_PERM",
    "EXIT_TEMPFAIL",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "AuthError",
    "BadInputError",
    "ConfigError",
    "ConnectorError",
    "DeadlineReached",
    "DeliveryError",
    "LockHeld",
    "OutputClosed",
    "OutputFatal",
    "OutputRetriable",
    "RateLimited",
    "RetriableError",
    "RuleError",
    "SecretError",
    "StateError",
    "Unavailable",
    "UsageError",
    "most_actionable",
]

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_BAD_INPUT = 65
EXIT_UNAVAILABLE = 69
EXIT_TEMPFAIL = 75
EXIT_PERM = 77
EXIT_CONFIG = 78
EXIT_BROKEN_PIPE = 141

# When several failures apply, report the one a person can act on first
# (outputs-and-operations.md §5.4): 78, then 77, 69, 3, 75.
_PRIORITY = (EXIT_CONFIG, EXIT_PERM, EXIT_UNAVAILABLE, EXIT_PARTIAL, EXIT_TEMPFAIL)


class ConnectorError(Exception):
    """Root of every error the connector raises on purpose."""

    exit_code: int = EXIT_BUG

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash((type(self), str(self)))


class UsageError(ConnectorError):
    """The command line is wrong (bad time expression, conflicting options)."""

    exit_code = EXIT_USAGE


class ConfigError(ConnectorError):
    """The configuration is invalid; `problems` lists every problem found."""

    exit_code = EXIT_CONFIG

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return self.message + "\n" + "\n".join(f"  {p}" for p in self.problems)


class SecretError(ConfigError):
    """No usable secret could be found, or a secret file is unsafe."""


class RuleError(ConfigError):
    """A rule file cannot be used. Carries where, and draws a caret under the problem."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        line: int | None = None,
        column: int | None = None,
        text: str = "",
    ) -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.column = column
        self.text = text

    def __str__(self) -> str:
        where = self.source or "<rule>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        out = f"{where}: {self.message}"
        if self.text and self.column is not None:
            out += f"\n    {self.text}\n    {' ' * max(self.column - 1, 0)}^"
        return out


class StateError(ConfigError):
    """The state store is corrupt, unreadable, or written by a newer version."""


class AuthError(ConnectorError):
    """The console or an output refused our credentials (401/403)."""

    exit_code = EXIT_PERM


class RetriableError(ConnectorError):
    """Nothing is wrong with the setup; trying again later may succeed."""

    exit_code = EXIT_TEMPFAIL


class RateLimited(RetriableError):
    """The API asked us to slow down beyond what this run can wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LockHeld(RetriableError):
    """Another run holds the state lock."""


class DeadlineReached(RetriableError):
    """The run's time budget is spent; work stopped cleanly between windows."""


class Unavailable(RetriableError):
    """The console or a source stayed unavailable after retries."""

    exit_code = EXIT_UNAVAILABLE


class BadInputError(ConnectorError):
    """Input data (a replay file) is unreadable as any supported format."""

    exit_code = EXIT_BAD_INPUT


class DeliveryError(ConnectorError):
    """An output could not take an alert; the alert stays in the outbox."""

    exit_code = EXIT_PARTIAL


class OutputRetriable(DeliveryError):
    """The output may take the alert later (network error, 429, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutputFatal(DeliveryError):
    """The output rejected the alert or its configuration is wrong; a person must look."""


class OutputClosed(ConnectorError):
    """stdout was closed by the reader (`hunt | head`)."""

    exit_code = EXIT_BROKEN_PIPE


def most_actionable(codes: list[int]) -> int:
    """Pick the exit code to report when several failures happened in one run."""
    for code in _PRIORITY:
        if code in codes:
            return code
    return max(codes, default=EXIT_OK)
