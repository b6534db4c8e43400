"""Where the API token and webhook secrets come from — never what they are.

Resolution order for the console API token (first hit wins):

1. `$S1_API_TOKEN`
2. `[console] token_file`, then `$CREDENTIALS_DIRECTORY/api-token` (systemd credentials);
   a file readable by group or others is refused
3. the OS keyring (service `s1-connector`, user = console URL), only with a real backend,
   in a worker thread with a timeout, every keyring exception caught
4. a no-echo prompt, only when stdin is a TTY
5. otherwise `SecretError` (exit 78) naming the ways to provide it

Every value found is registered with the log redaction filter before it is returned.
The keyring and prompt are injectable (`Environment`) so tests need no real keyring or TTY.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import stat
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connector.errors import SecretError
from connector.logsetup import register_secret

__all__ = [
    "KEYRING_SERVICE",
    "Environment",
    "KeyringStatus",
    "ResolvedSecret",
    "delete_token",
    "fingerprint",
    "keyring_status",
    "resolve_token",
    "resolve_webhook_secret",
    "store_token",
]

KEYRING_SERVICE = "s1-connector"
TOKEN_ENV = "S1_API_TOKEN"
KEYRING_TIMEOUT_S = 5.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedSecret:
    """A secret and the name of where it came from (`env`, `file:/path`, `keyring`, `prompt`)."""

    value: SecretStr
    source: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.value)


def fingerprint(value: SecretStr) -> str:
    """First 8 hex digits of the secret's SHA-256: enough to tell tokens apart, nothing more."""
    return hashlib.sha256(value.get_secret_value().encode()).hexdigest()[:8]


@dataclass(frozen=True)
class KeyringStatus:
    """Whether a usable keyring backend is present, and why not."""

    usable: bool
    detail: str


def _load_keyring() -> Any:
    import keyring  # noqa: PLC0415 - optional at run time; import only when asked

    return keyring


def keyring_status(loader: Callable[[], Any] = _load_keyring) -> KeyringStatus:
    """Report whether the OS keyring can be used; never raises."""
    try:
        keyring = loader()
        backend = keyring.get_keyring()
    except Exception as exc:  # keyring raises from many layers (D-Bus, secretstorage)
        return KeyringStatus(False, f"keyring unavailable: {type(exc).__name__}")
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if name in ("keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"):
        return KeyringStatus(False, f"no keyring backend ({name})")
    return KeyringStatus(True, name)


def _call_with_timeout(func: Callable[[], Any], timeout: float) -> Any:
    """Run `func` in a daemon thread; raise TimeoutError if it does not return in time.

    A locked Secret Service collection can block forever, so the thread is abandoned
    (daemon) rather than joined.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = func()
        except Exception as exc:  # re-raised in the caller's thread below
            result["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="keyring")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"keyring did not answer within {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


@dataclass
class Environment:
    """What secret resolution may look at; the defaults are the real process environment."""

    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    keyring_loader: Callable[[], Any] = _load_keyring
    is_tty: Callable[[], bool] = _stdin_is_tty
    prompt: Callable[[str], str] = getpass.getpass
    keyring_timeout: float = KEYRING_TIMEOUT_S


def _read_token_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SecretError(f"cannot read token file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            f"token file {path} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read token file {path}: {type(exc).__name__}") from exc
    token = text.removesuffix("\n").removesuffix("\r")
    if not token.strip():
        raise SecretError(f"token file {path} is empty")
    return token


def _from_keyring(console_url: str, environment: Environment) -> str | None:
    status = keyring_status(environment.keyring_loader)
    if not status.usable:
        log.debug("keyring skipped: %s", status.detail)
        return None
    try:
        keyring = environment.keyring_loader()
        value = _call_with_timeout(
            lambda: keyring.get_password(KEYRING_SERVICE, console_url),
            environment.keyring_timeout,
        )
    except Exception as exc:  # any keyring/D-Bus failure means "not from the keyring"
        log.warning("keyring lookup failed (%s); trying the next token source", type(exc).__name__)
        return None
    return value if isinstance(value, str) and value else None


def resolve_token(
    console_url: str, token_file: Path | None, environment: Environment | None = None
) -> ResolvedSecret:
    """Find the console API token by the documented order; raise SecretError if none."""
    environment = environment or Environment()
    for source, value in _token_candidates(console_url, token_file, environment):
        if value:
            register_secret(value)
            log.debug("API token taken from %s", source)
            return ResolvedSecret(SecretStr(value), source)
    raise SecretError(
        "no API token: set $S1_API_TOKEN, set [console] token_file to a file with mode 600, "
        "run `s1-connector auth set` to store it in the OS keyring, or run on a terminal "
        "to be prompted"
    )


def _token_candidates(console_url: str, token_file: Path | None, environment: Environment) -> Any:
    """Yield (source, value-or-None) lazily, so later sources are consulted only if needed."""
    yield "env:" + TOKEN_ENV, environment.env.get(TOKEN_ENV, "").strip() or None
    if token_file is not None:
        yield f"file:{token_file}", _read_token_file(token_file)
    cred_dir = environment.env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / "api-token").is_file():
        path = Path(cred_dir) / "api-token"
        yield f"file:{path}", _read_token_file(path)
    if console_url:
        yield "keyring", _from_keyring(console_url, environment)
    if environment.is_tty():
        yield "prompt", environment.prompt("SentinelOne API token: ").strip() or None


def resolve_webhook_secret(
    secret_env: str, environment: Environment | None = None
) -> ResolvedSecret | None:
    """The webhook signing secret from the named env var; None when no variable is named.

    A variable that is named but unset or empty is a SecretError: an operator who asked for
    signing must not silently get unsigned requests.
    """
    if not secret_env:
        return None
    environment = environment or Environment()
    value = environment.env.get(secret_env, "").strip()
    if not value:
        raise SecretError(f"webhook secret variable ${secret_env} is not set or empty")
    register_secret(value)
    return ResolvedSecret(SecretStr(value), f"env:{secret_env}")


def store_token(console_url: str, token: SecretStr, environment: Environment | None = None) -> None:
    """Save the token in the OS keyring; SecretError if there is no usable keyring."""
    keyring = _require_keyring(environment or Environment())
    try:
        keyring.set_password(KEYRING_SERVICE, console_url, token.get_secret_value())
    except Exception as exc:  # keyring/D-Bus failures of every kind
        raise SecretError(
            f"could not store the token in the keyring: {type(exc).__name__}"
        ) from exc


def delete_token(console_url: str, environment: Environment | None = None) -> bool:
    """Remove the stored token; False when there was none. SecretError without a keyring."""
    keyring = _require_keyring(environment or Environment())
    try:
        keyring.delete_password(KEYRING_SERVICE, console_url)
    except Exception as exc:  # PasswordDeleteError means "nothing stored"
        if type(exc).__name__ == "PasswordDeleteError":
            return False
        raise SecretError(
            f"could not delete the token from the keyring: {type(exc).__name__}"
        ) from exc
    return True


def _require_keyring(environment: Environment) -> Any:
    status = keyring_status(environment.keyring_loader)
    if not status.usable:
        raise SecretError(
            f"{status.detail}; on a headless machine use $S1_API_TOKEN or [console] token_file"
        )
    return environment.keyring_loader()
