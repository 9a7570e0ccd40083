"""`python app.py` with nothing configured: SQLite file, demo data, console transport, HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]



def test_app_starts_on_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "FINOPS_", "DATABASE_URL", "JIRA_", "GITHUB_",
                                "GITLAB_", "JENKINS_"))}
    env["PORT"] = str(port)
    log = tmp_path / "out.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.25)
        assert health is not None, log.read_text()[-3000:]
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "scheduler": "leader"}  # the only replica
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert "text/plain" in metrics.headers["content-type"]
        assert 'finops_jobs_total{job="ingest",outcome="ok"} 1.0' in metrics.text
        assert (tmp_path / "finops-bot.db").exists()
        # the console transport printed what would have gone to Slack: the demo's anomaly
        printed = log.read_text()
        assert "Cost anomaly: team data" in printed and "#data-costs" in printed
        # no Slack route without Slack settings
        assert httpx.post(f"http://127.0.0.1:{port}/slack/events", timeout=5).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=20)
