"""The tuning keys of `[rules]`: the example's commented blocks are valid when uncommented, and
mistakes are reported with their dotted path."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from connector.config import load_config
from connector.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
_KEY = re.compile(r"^# (\[\[rules\.\w+\]\]|[a-z_]+ = .*)$")


def test_the_example_tuning_blocks_load_when_uncommented(tmp_path: Path) -> None:
    example = (REPO / "config.example.toml").read_text(encoding="utf-8")
    tuning = example.split("# Tuning without editing rules", 1)[1].split("\n[poll]", 1)[0]
    lines = [m.group(1) for m in map(_KEY.match, tuning.splitlines()) if m]
    assert sum(line.startswith("[[rules.") for line in lines) == 3
    path = tmp_path / "s1-connector.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rules = load_config(path).rules
    assert rules.exceptions[0].file == tmp_path / "exceptions" / "office.ndjson"
    assert rules.value_lists[0].file == tmp_path / "lists" / "approved-hosts.txt"
    assert rules.suppress[0].duration == timedelta(hours=1)
    assert rules.suppress[0].group_by == ["host.name"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[rules.exceptions]]\nfile = "x.ndjson"\n', "rules.exceptions[0].rules: Field required"),
        ('[[rules.exceptions]]\nfile = "x"\nrules = ["*"]\nwhen = 1\n', "rules.exceptions[0].when"),
        ('[[rules.suppress]]\nrules = ["r"]\nduration = "soon"\n', "rules.suppress[0].duration"),
        (
            '[[rules.suppress]]\nrules = ["r"]\nmissing_fields_strategy = "drop"\n',
            "rules.suppress[0].missing_fields_strategy",
        ),
        ('[[rules.value_lists]]\nfile = "v.txt"\n', "rules.value_lists[0].id"),
    ],
)
def test_tuning_key_mistakes_name_their_path(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "s1-connector.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert problem in str(caught.value)
