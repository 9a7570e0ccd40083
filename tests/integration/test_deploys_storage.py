"""The deploy repository (storage/deploys.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from bot.deploy_parsers import DeployReport
from storage import deploys
from storage.db import session_scope

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _report(status: str, **changes: object) -> DeployReport:
    values: dict[str, object] = {"source": "jenkins", "external_id": "deploy-web#42",
                                 "env": "qa", "status": status, "deployer": "carol"}
    return DeployReport(**(values | changes))  # type: ignore[arg-type]


def _record(engine: Engine, report: DeployReport, *, at: datetime = NOW,
            env: str = "qa", known: bool = True) -> int:
    with session_scope(engine) as session:
        row = deploys.record(session, report=report, env=env, known=known, now=at)
        return row.id or 0


def test_one_row_per_deploy_moved_by_its_statuses(db: Engine) -> None:
    first = _record(db, _report("running", sha="abc", started_at=NOW - timedelta(minutes=2)))
    second = _record(db, _report("failure", version="1.4.2", url="https://ci/42"),
                     at=NOW + timedelta(minutes=3))
    late = _record(db, _report("running", sha="zzz"), at=NOW + timedelta(minutes=4))
    assert first == second == late
    with Session(db) as session:
        row = deploys.get(session, deploy_id=first)
        assert row is not None
        assert (row.status, row.sha, row.version, row.url) == ("failure", "abc", "1.4.2",
                                                               "https://ci/42")
        assert row.started_at == NOW - timedelta(minutes=2)
        assert row.finished_at == NOW + timedelta(minutes=3)
        assert row.effects_pending


def test_pending_effects_follow_the_status(db: Engine) -> None:
    deploy_id = _record(db, _report("running"))
    with session_scope(db) as session:
        deploys.mark_done(session, deploy_id=deploy_id, status="running")
        assert deploys.pending(session) == []
    _record(db, _report("running"))  # nothing moved: nothing new to do
    with session_scope(db) as session:
        assert deploys.pending(session) == []
    _record(db, _report("success"))
    with session_scope(db) as session:
        deploys.mark_done(session, deploy_id=deploy_id, status="running")  # stale: ignored
        assert [r.id for r in deploys.pending(session)] == [deploy_id]


def test_history_current_version_unknown_environments_and_titles(db: Engine) -> None:
    for number, status in enumerate(("success", "failure", "running")):
        _record(db, _report(status, external_id=f"deploy-web#{number}", sha=f"sha{number}",
                            started_at=NOW + timedelta(hours=number)))
    _record(db, _report("success", source="github", external_id="o/r/deployments/1",
                        repo="o/r", sha="f95f852", env="production"),
            env="production", known=False)
    with session_scope(db) as session:
        assert [r.sha for r in deploys.history(session, env="qa", limit=2)] == ["sha2", "sha1"]
        current = deploys.current(session, env="qa")
        assert current is not None and current.sha == "sha0"
        assert [(name, count) for name, count, _ in deploys.unknown_environments(session)] == [
            ("production", 1)]
        assert deploys.known_title(session, source="github", repo="o/r", sha="f95f852") is None
        [row] = deploys.history(session, env="production")
        deploys.set_title(session, deploy_id=row.id or 0, title="x" * 600)
        title = deploys.known_title(session, source="github", repo="o/r", sha="f95f852")
        assert title == "x" * 512  # clipped to the column


def test_concurrent_deliveries_of_one_deploy_keep_the_final_status(db: Engine) -> None:
    _record(db, _report("running"))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def deliver(status: str) -> None:
        try:
            barrier.wait()
            _record(db, _report(status))
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(s,))
               for s in ("running", "success", "running", "pending")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(db) as session:
        [row] = deploys.history(session, env="qa")
        assert row.status == "success"
