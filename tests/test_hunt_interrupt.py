"""Ctrl-C during a hunt cancels the running console query and exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from connector.simulator import Simulator, demo_records

TOKEN = "tok-ctrl-c-1"


def test_sigint_cancels_the_dv_query_and_exits_130(tmp_path: Path) -> None:
    records, _ = demo_records()
    # The query stays RUNNING for 30 s, so the interrupt lands while status is being polled.
    with Simulator(records, token=TOKEN, status_delay_s=30) as console:
        config = tmp_path / "c.toml"
        config.write_text(
            f'[console]\nurl = "{console.url}"\nmin_query_interval = "0s"\n[state]\npath = "s.db"\n'
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "--config", str(config), "hunt", "--from", "-2h"],
            env={**os.environ, "S1_API_TOKEN": TOKEN},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _wait_until(lambda: console.stats["calls"].get("dv/query-status", 0) >= 1, 60.0)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:  # the test failed: leave no hunt behind
                proc.kill()
                proc.communicate()
        calls = console.stats["calls"]
    assert proc.returncode == 130, err
    assert calls.get("dv/cancel-query") == 1
    assert out == ""
    assert "exit=130" in err and "api_calls=" in err and "api_calls=0 " not in err
    assert TOKEN not in err


def _wait_until(condition: object, timeout: float = 20.0) -> None:
    assert callable(condition)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")
