"""Two real `finops-bot run` processes on one PostgreSQL: one runs the scheduler, the other
stands by; kill -9 the leader in the middle of the digest job and the other takes over, releases
its claims, runs the job again and every digest is posted exactly once.

PostgreSQL only (the leader lock is an advisory lock); it uses a database of its own,
``finops_replicas``, next to the suite's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.conftest import free_port
from tests.fakes.slack import FakeSlack
from tests.pg import ON_POSTGRES, scratch_database

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not ON_POSTGRES,
                                reason="the leader lock is a PostgreSQL advisory lock")
USERS = {"alice@example.com": "U0ALICE", "bob@example.com": "U0BOB",
         "carol@example.com": "U0CAROL"}



@pytest.fixture
def database() -> str:
    return scratch_database("finops_replicas").render_as_string(hide_password=False)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(users=dict(USERS)) as fake:
        yield fake


class Replica:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name, self.port, self.log = name, free_port(), log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "app.py")], cwd=log.parent,
                env={**env, "PORT": str(self.port)}, stdout=out, stderr=subprocess.STDOUT)

    def health(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                return dict(httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).json())
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"{self.name} did not answer: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)  # gone, its database sessions with it


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_leader_and_a_killed_leader_mid_job_is_taken_over_exactly_once(
    database: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    # the digest runs at the next whole minute (UTC); nothing else is due in the test's time
    now = datetime.now(UTC)
    at = (now + timedelta(minutes=2 if now.second > 40 else 1)).replace(second=0, microsecond=0)
    config = yaml.safe_load((ROOT / "bot" / "demo" / "demo.yaml").read_text())
    config["digest"] = {"time": f"{at:%H:%M}", "timezone": "UTC", "floor": 0.0,
                        "min_change_pct": 0.0}
    config["lifecycle"]["sweep"] = "0 0 1 1 *"
    config["schedules"] = []
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "FINOPS_", "JIRA_", "GITHUB_", "GITLAB_", "JENKINS_"))}
    env.update({
        "DATABASE_URL": database, "FINOPS_CONFIG": str(tmp_path / "config.yaml"),
        "SLACK_BOT_TOKEN": fake_slack.token, "SLACK_SIGNING_SECRET": "replica-secret",
        "SLACK_API_URL": fake_slack.base_url,
    })
    subprocess.run([sys.executable, "-m", "handlers.cli", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "handlers.cli", "ingest", "--provider", "demo"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    release = fake_slack.hold("chat.postMessage", after=2)  # the third post hangs
    a = Replica("a", env, tmp_path / "a.log")
    b: Replica | None = None
    try:
        assert a.health()["scheduler"] == "leader"
        b = Replica("b", env, tmp_path / "b.log")
        assert b.health()["scheduler"] == "standby"

        _wait(lambda: fake_slack.held == ["chat.postMessage"], 150, "the held digest post")
        assert b.health()["scheduler"] == "standby"  # a still leads, mid-job
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait(timeout=10)
        release.set()  # the post a was waiting on never reached Slack

        _wait(lambda: b.health()["scheduler"] == "leader", 30, "b to take the lead")
        engine = create_engine(database)
        try:
            def settled() -> list[Any]:
                with engine.connect() as conn:
                    open_runs = conn.execute(text(
                        "SELECT count(*) FROM job_run WHERE job = 'digest' AND finished_at IS NULL"
                    )).scalar()
                    unsent = conn.execute(text(
                        "SELECT count(*) FROM delivery WHERE kind = 'digest' AND sent_at IS NULL"
                    )).scalar()
                    runs = conn.execute(text(
                        "SELECT worker, outcome FROM job_run WHERE job = 'digest' ORDER BY id"
                    )).all()
                return list(runs) if open_runs == 0 and unsent == 0 and len(runs) >= 2 else []

            runs = _wait(settled, 60, "b to finish the digest job")
            with engine.connect() as conn:
                sent = conn.execute(text(
                    "SELECT count(*) FROM delivery WHERE kind = 'digest' AND outcome = 'sent'"
                )).scalar()
        finally:
            engine.dispose()
    finally:
        for replica in (a, b):
            if replica is not None:
                replica.stop()

    assert "interrupted; taken over by" in runs[0][1]  # a's run, finished by b's take-over
    assert {w for w, _ in runs[1:]} == {runs[-1][0]} != {runs[0][0]}  # b ran it again
    posts = [(c.args.get("channel"), c.args.get("text"))
             for c in fake_slack.calls("chat.postMessage") if c.status == 200]
    digests = [p for p in posts if "yesterday" in str(p[1]) and "month to date" in str(p[1])]
    assert len(digests) == sent and sent >= 3
    assert max(Counter(digests).values()) == 1  # none twice
    jobs_of_a = (tmp_path / "a.log").read_text().count("job digest:")
    assert jobs_of_a == 0  # a never finished it
