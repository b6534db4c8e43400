"""Secret resolution order: env, file (mode checked), keyring (present/absent/failing), prompt."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest
from pydantic import SecretStr

from connector.errors import SecretError
from connector.logsetup import redact
from connector.secrets import (
    Environment,
    delete_token,
    keyring_status,
    resolve_token,
    resolve_webhook_secret,
    store_token,
)

URL = "https://tenant.sentinelone.net"


class MemoryBackend:
    """An in-memory keyring backend (its class path is not fail/null, so it counts as real)."""

    def __init__(self, value: str | None = None, error: Exception | None = None, hang: float = 0):
        self.stored: dict[tuple[str, str], str] = {}
        if value is not None:
            self.stored[("s1-connector", URL)] = value
        self.error = error
        self.hang = hang

    def get_password(self, service: str, user: str) -> str | None:
        if self.hang:
            time.sleep(self.hang)
        if self.error:
            raise self.error
        return self.stored.get((service, user))

    def set_password(self, service: str, user: str, value: str) -> None:
        self.stored[(service, user)] = value

    def delete_password(self, service: str, user: str) -> None:
        if (service, user) not in self.stored:
            raise type("PasswordDeleteError", (Exception,), {})("none")
        del self.stored[(service, user)]


class FakeKeyringModule:
    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def get_keyring(self) -> Any:
        return self.backend

    def get_password(self, service: str, user: str) -> str | None:
        return self.backend.get_password(service, user)  # type: ignore[no-any-return]

    def set_password(self, service: str, user: str, value: str) -> None:
        self.backend.set_password(service, user, value)

    def delete_password(self, service: str, user: str) -> None:
        self.backend.delete_password(service, user)


def _env(
    env: dict[str, str] | None = None,
    backend: Any = None,
    tty: bool = False,
    prompt_value: str = "",
) -> Environment:
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return prompt_value

    def loader() -> Any:
        if backend is None:
            raise ImportError("no keyring")
        return FakeKeyringModule(backend)

    environment = Environment(
        env=env or {}, keyring_loader=loader, is_tty=lambda: tty, prompt=prompt, keyring_timeout=0.3
    )
    environment.prompts = prompts  # type: ignore[attr-defined]
    return environment


def _token_file(tmp_path: Path, mode: int, text: str = "file-token-123\n") -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_env_wins_over_everything(tmp_path: Path) -> None:
    environment = _env(
        {"S1_API_TOKEN": "env-token-123"}, backend=MemoryBackend("kr-token"), tty=True
    )
    found = resolve_token(URL, _token_file(tmp_path, 0o600), environment)
    assert found.value.get_secret_value() == "env-token-123"
    assert found.source == "env:S1_API_TOKEN"


def test_file_next_and_trailing_newline_stripped(tmp_path: Path) -> None:
    found = resolve_token(URL, _token_file(tmp_path, 0o600), _env(backend=MemoryBackend("kr")))
    assert found.value.get_secret_value() == "file-token-123"
    assert found.source.startswith("file:")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    with pytest.raises(SecretError, match="chmod 600") as info:
        resolve_token(URL, _token_file(tmp_path, mode), _env())
    assert "file-token" not in str(info.value)


def test_missing_token_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="cannot read token file"):
        resolve_token(URL, tmp_path / "nope", _env())


def test_systemd_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "api-token").write_text("cred-token-xyz")
    (tmp_path / "api-token").chmod(0o600)
    found = resolve_token(URL, None, _env({"CREDENTIALS_DIRECTORY": str(tmp_path)}))
    assert found.value.get_secret_value() == "cred-token-xyz"


def test_keyring_present() -> None:
    found = resolve_token(URL, None, _env(backend=MemoryBackend("kr-token-abc")))
    assert (found.value.get_secret_value(), found.source) == ("kr-token-abc", "keyring")


def test_keyring_absent_falls_through_to_error() -> None:
    with pytest.raises(SecretError, match="no API token"):
        resolve_token(URL, None, _env(backend=None))


def test_fail_backend_counts_as_absent() -> None:

    assert not keyring_status(lambda: FakeKeyringModule(keyring.backends.fail.Keyring())).usable
    with pytest.raises(SecretError):
        resolve_token(URL, None, _env(backend=keyring.backends.fail.Keyring()))


def test_keyring_raising_is_caught_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    environment = _env(
        backend=MemoryBackend(error=RuntimeError("dbus exploded")),
        tty=True,
        prompt_value="typed-token",
    )
    found = resolve_token(URL, None, environment)
    assert found.source == "prompt"
    assert "keyring lookup failed (RuntimeError)" in caplog.text


def test_keyring_hang_times_out_instead_of_stalling() -> None:
    started = time.monotonic()
    with pytest.raises(SecretError):
        resolve_token(URL, None, _env(backend=MemoryBackend("late", hang=5)))
    assert time.monotonic() - started < 2


def test_prompt_only_on_tty() -> None:
    environment = _env(tty=False, prompt_value="never")
    with pytest.raises(SecretError):
        resolve_token(URL, None, environment)
    assert environment.prompts == []  # type: ignore[attr-defined]
    found = resolve_token(URL, None, _env(tty=True, prompt_value="typed-token"))
    assert found.source == "prompt"


def test_resolved_token_is_registered_for_redaction() -> None:
    resolve_token(URL, None, _env({"S1_API_TOKEN": "very-secret-value-42"}))
    assert "very-secret-value-42" not in redact("boom very-secret-value-42 boom")


def test_secretstr_never_shows_value() -> None:
    found = resolve_token(URL, None, _env({"S1_API_TOKEN": "hidden-value-77"}))
    assert "hidden-value-77" not in repr(found) and "hidden-value-77" not in str(found.value)
    assert len(found.fingerprint) == 8


def test_webhook_secret_from_named_env() -> None:
    assert resolve_webhook_secret("", _env()) is None
    found = resolve_webhook_secret("HOOK", _env({"HOOK": "whsec_abc"}))
    assert found is not None and found.value.get_secret_value() == "whsec_abc"
    with pytest.raises(SecretError, match=r"\$HOOK is not set"):
        resolve_webhook_secret("HOOK", _env())


def test_store_and_delete_need_a_keyring() -> None:
    backend = MemoryBackend()
    environment = _env(backend=backend)
    store_token(URL, SecretStr("stored-1"), environment)
    assert backend.stored[("s1-connector", URL)] == "stored-1"
    assert delete_token(URL, environment) is True
    assert delete_token(URL, environment) is False
    with pytest.raises(SecretError, match="headless"):
        store_token(URL, SecretStr("x"), _env(backend=None))
