"""Alert outputs: webhook, syslog and file, behind the `Output` protocol of `base.py`.

`open_output(config)` builds the output for one `[[outputs]]` entry (not yet entered: use it
as a context manager). `send_test_alert(configs, created=...)` is `check --send-test`: it sends
one marked test alert through every configured output and reports each answer.

Each output's module is imported when an output of its kind is opened (the webhook brings
requests and tenacity, ~0.1 s): a run without outputs, like `replay`, never loads them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from connector.alerts import test_alert
from connector.config import (
    FileOutputConfig,
    OutputConfig,
    SyslogOutputConfig,
    WebhookOutputConfig,
)
from connector.errors import ConnectorError
from connector.outputs.base import Delivery, Outcome, Output, Pending
from connector.secrets import Environment, resolve_webhook_secret

__all__ = [
    "Delivery",
    "Outcome",
    "Output",
    "Pending",
    "open_output",
    "send_test_alert",
]

log = logging.getLogger(__name__)


def _webhook(config: OutputConfig, env: Mapping[str, str] | None) -> Output:
    assert isinstance(config, WebhookOutputConfig)
    environment = Environment(env=env) if env is not None else None
    resolved = resolve_webhook_secret(config.secret_env, environment)
    if resolved is not None:
        log.debug("output %s: webhook secret from %s", config.name, resolved.source)
    from connector.outputs.webhook import WebhookOutput  # noqa: PLC0415 - lazy: start-up time

    return WebhookOutput(config, resolved.value if resolved else None)


def _syslog(config: OutputConfig, env: Mapping[str, str] | None) -> Output:
    assert isinstance(config, SyslogOutputConfig)
    from connector.outputs.syslog import SyslogOutput  # noqa: PLC0415 - lazy: start-up time

    return SyslogOutput(config)


def _file(config: OutputConfig, env: Mapping[str, str] | None) -> Output:
    assert isinstance(config, FileOutputConfig)
    from connector.outputs.file import FileOutput  # noqa: PLC0415 - lazy: start-up time

    return FileOutput(config)


_OUTPUTS: dict[str, Callable[[OutputConfig, Mapping[str, str] | None], Output]] = {
    "webhook": _webhook,
    "syslog": _syslog,
    "file": _file,
}


def open_output(config: OutputConfig, *, env: Mapping[str, str] | None = None) -> Output:
    """The output for one config entry; `.name` is `config.name`.

    Raises SecretError (exit 78) when a named webhook secret is missing or malformed.
    `env` replaces `os.environ` for secret lookup (tests).
    """
    return _OUTPUTS[config.type](config, env)


def send_test_alert(
    configs: Sequence[OutputConfig],
    *,
    created: datetime,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> dict[str, Delivery]:
    """Send one `test_alert(created)` through each output; the answer per output name.

    An output that cannot even start (missing secret, bad TLS files) answers REJECTED with
    the error message, so one broken output does not hide the others.
    """
    alert = test_alert(created)
    alert_id = str(alert["event"]["id"])
    results: dict[str, Delivery] = {}
    for config in configs:
        try:
            with open_output(config, env=env) as output:
                pending = Pending(alert_id, output.render(alert))
                results[config.name] = output.send([pending], time.monotonic() + timeout)[0]
        except ConnectorError as exc:
            results[config.name] = Delivery(alert_id, Outcome.REJECTED, str(exc))
    return results
