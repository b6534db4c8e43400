"""Webhook bodies: plain functions from the alert document to a JSON-ready dict.

| template | body                                                                      | size cap |
|----------|---------------------------------------------------------------------------|----------|
| `ecs`    | `{"type": "alert.created", "timestamp": <event.created>, "data": <alert>}` | 20 kB    |
| `slack`  | `{"text", "blocks"}` within Block Kit limits; `&`, `<`, `>` escaped        | 40 kB    |
| `teams`  | a Workflows `message` with an Adaptive Card 1.4                            | 28 kB    |

No template engine, so nothing in the data is ever evaluated. Data reaches Slack either as
`plain_text` or as escaped `mrkdwn`, so a command line containing `<!channel>` pings nobody.
`render_body` shrinks the alert (`connector.outputs.shrink`) until the body fits its cap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from connector.outputs.formats import severity_of, shorten
from connector.outputs.shrink import STEPS, degrade, json_bytes

__all__ = ["TEMPLATE_CAPS", "Template", "ecs_body", "render_body", "slack_body", "teams_body"]

Template = Literal["ecs", "slack", "teams"]
TEMPLATE_CAPS: dict[str, int] = {"ecs": 20_000, "slack": 40_000, "teams": 28_000}
_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_SLACK_HEADER = 150
_SLACK_TEXT = 3000
_SLACK_FIELD = 2000
_SLACK_CONTEXT = 2000


def _get(alert: Mapping[str, Any], dotted: str) -> str:
    """A scalar field as display text: control characters other than LF become spaces."""
    node: Any = alert
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return ""
        node = node.get(part)
    if node is None or isinstance(node, Mapping | list):
        return ""
    return _CONTROLS.sub(" ", str(node))


def _remote(alert: Mapping[str, Any]) -> str:
    ip, port = _get(alert, "destination.ip"), _get(alert, "destination.port")
    if not ip:
        return ""
    host = f"[{ip}]" if ":" in ip and port else ip
    return f"{host}:{port}" if port else host


def _author(alert: Mapping[str, Any]) -> str:
    author, licence = _get(alert, "rule.author"), _get(alert, "rule.license")
    return f"{author} ({licence})" if author and licence else author


def _facts(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value pairs shown by chat templates; empty values are left out."""
    user = _get(alert, "user.name")
    if user and _get(alert, "user.domain"):
        user = f"{_get(alert, 'user.domain')}\\{user}"
    facts = [
        ("Host", _get(alert, "host.name")),
        ("User", user),
        ("Process", _get(alert, "process.name")),
        ("Parent", _get(alert, "process.parent.name")),
        ("Remote", _remote(alert)),
        ("Risk score", _get(alert, "event.risk_score")),
        ("Storyline", _get(alert, "sentinel_one.storyline.id")),
        # Sigma rules: DRL 1.1 asks every alert to name the author and link the rule's source.
        ("Rule author", _author(alert)),
        ("Rule source", _get(alert, "rule.reference") if _get(alert, "rule.author") else ""),
        ("Alert", _get(alert, "event.id")),
    ]
    return [(label, value) for label, value in facts if value]


def _title(alert: Mapping[str, Any]) -> str:
    return f"{severity_of(alert).label.upper()}: {_get(alert, 'rule.name')}"


def ecs_body(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The Standard Webhooks envelope around the whole alert document."""
    return {"type": "alert.created", "timestamp": _get(alert, "event.created"), "data": alert}


# --- Slack --------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn gives meaning to (`&` first)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int) -> str:
    """Escaped text no longer than `limit`; cut before escaping so no entity is split."""
    cut = text
    while len(escaped := slack_escape(cut)) > limit:
        cut = shorten(cut, max(len(cut) - (len(escaped) - limit) - 1, 1))
    return escaped


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": shorten(text, limit) or "-", "emoji": False}


def slack_body(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Slack incoming-webhook message: header, reason, facts, command line, context, link."""
    severity = severity_of(alert).label.upper()
    host = _get(alert, "host.name")
    summary = f"[{severity}] {_get(alert, 'rule.name')}" + (f" on {host}" if host else "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(" ".join(_title(alert).split()), _SLACK_HEADER)},
        {"type": "section", "text": _plain(_get(alert, "message") or summary, _SLACK_TEXT)},
    ]
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n" + _mrkdwn(value, _SLACK_FIELD - len(label) - 3)}
        for label, value in _facts(alert)[:10]
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    command = _get(alert, "process.command_line")
    if command:
        blocks.append({"type": "section", "text": _plain("Command line: " + command, _SLACK_TEXT)})
    context = f"alert {_get(alert, 'event.id')} · rule {_get(alert, 'rule.id')}"
    element = {"type": "mrkdwn", "text": _mrkdwn(context, _SLACK_CONTEXT)}
    blocks.append({"type": "context", "elements": [element]})
    url = _get(alert, "sentinel_one.console_url")
    if url.startswith(("https://", "http://")) and len(url) <= 3000:
        button = {"type": "button", "text": _plain("Open in console", 75), "url": url}
        blocks.append({"type": "actions", "elements": [button]})
    return {"text": _mrkdwn(summary, _SLACK_TEXT), "blocks": blocks}


# --- Teams --------------------------------------------------------------------------------


def teams_body(alert: Mapping[str, Any]) -> dict[str, Any]:
    """A Teams Workflows message carrying one Adaptive Card (version 1.4)."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": _title(alert),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {"type": "TextBlock", "text": _get(alert, "message"), "wrap": True},
        {
            "type": "FactSet",
            "facts": [{"title": label, "value": value} for label, value in _facts(alert)],
        },
    ]
    command = _get(alert, "process.command_line")
    if command:
        body.append({"type": "TextBlock", "text": "Command line", "weight": "Bolder"})
        body.append({"type": "TextBlock", "text": command, "wrap": True, "fontType": "Monospace"})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    url = _get(alert, "sentinel_one.console_url")
    if url.startswith(("https://", "http://")):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in console", "url": url}]
    attachment = {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": card,
    }
    return {"type": "message", "attachments": [attachment]}


_TEMPLATES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "ecs": ecs_body,
    "slack": slack_body,
    "teams": teams_body,
}


def render_body(template: Template, alert: Mapping[str, Any]) -> bytes:
    """The exact request body: compact UTF-8 JSON, shrunk until under the template's cap.

    If even the most degraded form is over the cap, that form is returned: the receiver
    decides (a 413 is then a final rejection with its reason).
    """
    build, cap = _TEMPLATES[template], TEMPLATE_CAPS[template]
    body = json_bytes(build(alert))
    for step in STEPS:
        if len(body) <= cap:
            break
        body = json_bytes(build(degrade(alert, step)))
    return body
