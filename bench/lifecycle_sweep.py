"""Lifecycle sweep at scale: finding the due TTL steps among 100,000 resources with TTLs.

    python bench/lifecycle_sweep.py [--resources N] [--due-pct P] [--repeat N]
                                    [--database-url URL]

Builds a database (SQLite in the temp dir; PostgreSQL when --database-url or DATABASE_URL names
one, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/finops_bench — its schema is rebuilt, so
never point it at data you keep, and a database named ``test`` is refused) with N resources,
each with a TTL tag or a policy max age, spread over the past and next 60 days. Then it times:

  sync    bot.lifecycle_sync.sync: every resource's TTL resolved, its workflow started (what an
          ingest pays; reported, no target)
  sweep   storage.lifecycle.due: the open workflows whose next step is due and unclaimed, as
          the sweeper reads them (target <= 1 s)
  bare    the same rows by one SQL SELECT on the indexed next_at, measured in the same run

and prints each beside the others.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot.config import Config, Team  # noqa: E402
from bot.config_sections import TtlPolicy  # noqa: E402
from bot.lifecycle_sync import sync  # noqa: E402
from storage import lifecycle  # noqa: E402
from storage.db import make_engine, upgrade  # noqa: E402
from storage.models import Resource  # noqa: E402

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _config() -> Config:
    return Config(
        teams={f"team-{t}": Team(manager=f"lead{t}@example.com") for t in range(20)},
        ttl_policies=[
            TtlPolicy(name="sandbox", account="999999999999", max_age="30d", action="destroy"),
            TtlPolicy(name="dev-vms", team="team-3", resource_type="Instance", max_age="14d",
                      action="stop"),
        ],
    )


def _resources(n: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first_seen = date(2026, 11, 27) - timedelta(days=rng.randrange(0, 60))
        tags: dict[str, str] = {"owner": f"user{i % 500:03d}@example.com"}
        roll = rng.random()
        if roll < 0.5:
            tags["ttl"] = f"{rng.randrange(1, 90)}d"
        elif roll < 0.8:
            tags["expires-at"] = (NOW + timedelta(days=rng.randrange(-30, 60))).date().isoformat()
        account = "999999999999" if roll >= 0.8 or i % 7 == 0 else "111111111111"
        rows.append({
            "resource_id": f"i-{i:017x}", "provider": "AWS", "account_id": account,
            "region": "us-east-1", "service": "AmazonEC2", "resource_type": "Instance",
            "name": f"box-{i}", "tags": json.dumps(tags), "state": "running",
            "first_seen": first_seen, "last_seen": date(2026, 11, 26),
            "owner": tags["owner"], "team": f"team-{i % 20}", "owner_source": "tag:owner",
        })
    return rows


def _engine(url: str | None, n: int) -> tuple[object, str]:
    if url:
        if make_url(url).database == "test":
            raise SystemExit("refusing to rebuild the database named 'test'")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        return engine, "postgresql"
    path = Path(tempfile.gettempdir()) / "finops-bench" / f"lifecycle-{n}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return make_engine(f"sqlite:///{path}"), "sqlite"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)

    engine, kind = _engine(args.database_url, args.resources)
    upgrade(engine)  # type: ignore[arg-type]
    config = _config()
    with Session(engine) as session:  # type: ignore[arg-type]
        rows = _resources(args.resources, args.seed)
        for start in range(0, len(rows), 10_000):
            session.execute(insert(Resource), rows[start:start + 10_000])
        session.commit()
        started = time.perf_counter()
        changed = sync(session, config=config, now=NOW)
        session.commit()
        sync_s = time.perf_counter() - started
        resync = time.perf_counter()
        again = sync(session, config=config, now=NOW)
        session.commit()
        resync_s = time.perf_counter() - resync
    if kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # type: ignore[attr-defined]
            conn.execute(text("VACUUM ANALYZE"))
    print(f"database: {kind}; {args.resources:,} resources, {changed:,} workflows started "
          f"by sync in {sync_s:.2f}s; a sync with nothing changed: {resync_s:.2f}s "
          f"({again} changed)")

    bare_sql = text("SELECT resource_id, state, action FROM lifecycle "
                    "WHERE next_at <= :now AND state IN ('active', 'warned', 'due')")
    sweeps, bares, found = [], [], 0
    for _ in range(args.repeat):
        with Session(engine) as session:  # type: ignore[arg-type]
            started = time.perf_counter()
            due = lifecycle.due(session, now=NOW, limit=args.resources)
            sweeps.append(time.perf_counter() - started)
            found = len(due)
        with Session(engine) as session:  # type: ignore[arg-type]
            started = time.perf_counter()
            bare = session.execute(bare_sql, {"now": NOW}).all()
            bares.append(time.perf_counter() - started)
    print(f"sweep     storage.lifecycle.due: {found:,} due steps: "
          + ", ".join(f"{s:.3f}s" for s in sweeps))
    print(f"bare      one SELECT on next_at ({len(bare):,} rows): "
          + ", ".join(f"{s:.3f}s" for s in bares))
    best = min(sweeps)
    print(f"best      sweep {best:.3f}s vs bare {min(bares):.3f}s; median sweep "
          f"{statistics.median(sweeps):.3f}s; target <= 1.0s: {'met' if best <= 1 else 'MISSED'}")
    engine.dispose()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
