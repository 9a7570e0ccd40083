"""Digest job at scale: every team's and owner's digest over 100,000 resources x 90 days.

    python bench/digest_scale.py [--resources N] [--days N] [--owners N] [--teams N]
                                 [--repeat N] [--db PATH] [--reuse] [--profile]

Builds a database (SQLite in the temp dir by default; PostgreSQL when DATABASE_URL or
--database-url names one, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/finops_bench; the
database is created if missing and its schema is rebuilt, so never point it at data you keep, and
a database named ``test`` is refused) with N resources (owner among --owners emails, mostly in
their home team; team among --teams; service, account, region, JSON tags, 1% with a TTL tag)
and --days days of daily costs per resource (9,000,000 rows by default). Generation runs through
the migrated schema (storage.db.upgrade) and is timed separately.

The rollups an ingest maintains (storage.rollup) are then rebuilt and timed apart, as the
ingest's share. Then it times ``bot.digests.load_all`` (all digests built, nothing sent;
target <= 5 s) beside a bare SQL aggregate measured in the same run: one ``SUM(effective_cost)``
grouped by owner and day over the same 35-day window, joined to ``resource``. A fingerprint of
the digests is printed so that two versions of the code can be compared for identical results.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import hashlib
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scratch import pg_engine  # noqa: E402
from sqlalchemy import (  # noqa: E402
    Column,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlmodel import Session  # noqa: E402

from bot.config import Config, Team  # noqa: E402
from bot.digests import WINDOW_DAYS, Built, load_all  # noqa: E402
from bot.lifecycle_sync import sync  # noqa: E402
from storage import rollup  # noqa: E402
from storage.db import make_engine, upgrade  # noqa: E402
from storage.models import Anomaly, CostDaily, Resource, Saving  # noqa: E402

SERVICES = {"aws": ["AmazonEC2", "AmazonS3", "AmazonRDS", "AWSLambda", "AmazonEKS"],
            "gcp": ["Compute Engine", "Cloud Storage", "BigQuery", "Cloud SQL"],
            "azure": ["Virtual Machines", "Storage", "Azure SQL Database"]}
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "europe-west1", "us-central1", "westeurope"]
KINDS = ["api", "worker", "db", "cache", "batch", "etl", "web", "queue"]
ENVS = ["prod", "staging", "dev", "qa"]
LAST_DAY = date(2026, 11, 30)  # fixed, so runs on different days build the same digests

_SCRATCH = MetaData()
_WORLD = Table("bench_world", _SCRATCH, Column("resource_id", String(1024), primary_key=True),
               Column("provider", String(64)), Column("account_id", String(256)),
               Column("service", String(256)), Column("region", String(64)),
               Column("name", String(512)), Column("kind", String(256)),
               Column("base", Float), Column("n", Integer))
_COST_COLUMNS = ("day, resource_id, provider, billing_account_id, sub_account_id, "
                 "sub_account_name, service, region, resource_name, resource_type, currency, "
                 "billed_cost, effective_cost, list_cost")
_FILL_DAY = text(
    f"INSERT INTO cost_daily ({_COST_COLUMNS}) "
    "SELECT :day, resource_id, provider, 'payer-' || provider, account_id, 'acct ' || account_id,"
    " service, region, name, kind, 'USD', c * 1.02, c, c * 1.3 FROM ("
    " SELECT w.*, w.base * :factor * (1 + ((w.n * 31 + :k * 17) % 23) * 0.01) AS c"
    " FROM bench_world w) AS s"
).bindparams(bindparam("day", type_=Date))
_BASELINE = (
    "SELECT coalesce(r.owner, 'unowned'), c.day, c.currency, SUM(c.effective_cost) "
    "FROM cost_daily c LEFT JOIN resource r ON r.resource_id = c.resource_id "
    "WHERE c.day >= :start AND c.day <= :end GROUP BY 1, 2, 3"
)


def make_config(n_teams: int) -> Config:
    return Config(teams={
        f"team-{t:02d}": Team(budget=40_000.0 + 5_000 * t, slack_channel=f"#team-{t:02d}-costs",
                              manager=f"lead{t}@example.com", default_owner=f"lead{t}@example.com")
        for t in range(n_teams)})


def world(rng: random.Random, *, n_resources: int, n_owners: int, n_teams: int,
          first: date, last: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Resource rows and the per-resource generator rows (base daily cost, a noise seed)."""
    accounts = [str(rng.randrange(10**11, 10**12)) for _ in range(60)]
    owners = [f"user{i:03d}@example.com" for i in range(n_owners)]
    resources, gen = [], []
    for n in range(n_resources):
        provider = rng.choice(list(SERVICES))
        account, kind, env = rng.choice(accounts), rng.choice(KINDS), rng.choice(ENVS)
        o = rng.randrange(n_owners)
        team = o % n_teams if rng.random() < 0.95 else rng.randrange(n_teams)
        roll = rng.random()
        owner: str | None = owners[o]
        source = "tag:owner" if roll < 0.6 else "rule:r012"
        if roll > 0.98:
            owner, source = None, "unowned"
        elif roll > 0.90:
            owner, source = f"lead{team}@example.com", "team-default"
        rid = f"{provider}:{account}:{kind}/{n:08x}"
        name = f"app{n % 120:03d}-{env}-{kind}-{n}"
        tags = f'{{"app": "app{n % 120:03d}", "env": "{env}", "team": "team-{team:02d}"'
        if owner and source == "tag:owner":
            tags += f', "owner": "{owner}"'
        if n % 100 == 7:
            tags += ', "ttl": "3d"' if n % 200 == 7 else f', "expires-at": "{last + timedelta(2)}"'
        service = rng.choice(SERVICES[provider])
        resources.append({
            "resource_id": rid, "provider": provider, "account_id": account,
            "account_name": f"acct {account}", "region": rng.choice(REGIONS), "service": service,
            "resource_type": kind, "name": name, "tags": tags + "}", "state": "running",
            "first_seen": first if n % 100 != 7 else last - timedelta(days=1),
            "last_seen": last, "owner": owner, "team": f"team-{team:02d}", "owner_source": source,
        })
        gen.append({"resource_id": rid, "provider": provider, "account_id": account,
                    "service": service, "region": resources[-1]["region"], "name": name,
                    "kind": kind, "base": round(rng.lognormvariate(1.0, 1.2), 4), "n": n})
    return resources, gen


def _recreate_schema(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))


def _cost_indexes(engine: Engine) -> tuple[list[str], list[str]]:
    """DDL to drop and to recreate cost_daily's secondary indexes (rebuilt after the bulk load)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                     "AND tbl_name = 'cost_daily' AND sql IS NOT NULL")).all()
            return [f"DROP INDEX {n}" for n, _ in rows], [s for _, s in rows]
        rows = conn.execute(text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'cost_daily'::regclass AND contype = 'u'")).all()
        drops = [f"ALTER TABLE cost_daily DROP CONSTRAINT {n}" for n, _ in rows]
        creates = [f"ALTER TABLE cost_daily ADD CONSTRAINT {n} {d}" for n, d in rows]
        idx = conn.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'cost_daily' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'cost_daily'::regclass)")).all()
        return drops + [f"DROP INDEX {n}" for n, _ in idx], creates + [d for _, d in idx]


def populate(engine: Engine, *, n_resources: int, days: int, n_owners: int, n_teams: int,
             seed: int) -> None:
    """Fresh schema, then resources, ``days`` days of costs, some anomalies and savings."""
    first = LAST_DAY - timedelta(days=days - 1)
    resources, gen = world(random.Random(seed), n_resources=n_resources, n_owners=n_owners,
                           n_teams=n_teams, first=first, last=LAST_DAY)
    drops, creates = _cost_indexes(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA cache_size = -400000")
        for ddl in drops:
            conn.execute(text(ddl))
        for start in range(0, len(resources), 10_000):
            conn.execute(insert(Resource), resources[start:start + 10_000])
        _WORLD.create(conn)
        conn.execute(insert(_WORLD), gen)
        for k in range(days):
            day = first + timedelta(days=k)
            factor = (0.6 if day.weekday() >= 5 else 1.0) * (1 + k / 900)
            conn.execute(_FILL_DAY, {"day": day, "factor": factor, "k": k})
        _WORLD.drop(conn)
        for ddl in creates:
            conn.execute(text(ddl))
        created = datetime.combine(LAST_DAY + timedelta(days=1), datetime.min.time(), UTC)
        conn.execute(insert(Anomaly), [
            {"series": (f"owner:user{i:03d}@example.com" if i % 2
                        else f"team:team-{i % n_teams:02d}"),
             "day": LAST_DAY - timedelta(days=i // n_teams), "expected": 100.0,
             "actual": 180.0 + i, "impact": 80.0 + i, "impact_pct": 80.0, "score": 9.0,
             "currency": "USD", "causes": "[]", "status": "open", "created_at": created}
            for i in range(40)])
        conn.execute(insert(Saving), [
            {"resource_id": resources[i]["resource_id"], "action": "stop", "daily_cost": 12.5,
             "currency": "USD", "since": created - timedelta(days=10 + i % 5),
             "owner": resources[i]["owner"], "team": resources[i]["team"]} for i in range(200)])
    if engine.dialect.name == "postgresql":
        # autovacuum would get there after a bulk load; do it now so plans are settled
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        res = conn.execute(select(func.count()).select_from(Resource)).scalar_one()
        cost = conn.execute(select(func.count()).select_from(CostDaily)).scalar_one()
    return int(res), int(cost)


def _canon(value: Any) -> Any:
    """Floats to 7 significant digits: sums differ in the last bits with the order of adding."""
    if isinstance(value, float):
        return float(f"{value:.7g}")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__,
                *(_canon(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, dict):
        return sorted((repr(k), _canon(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    return value


def fingerprint(built: list[Built]) -> str:
    """A hash of every digest's figures and chart series, independent of list order."""
    parts = sorted(repr(_canon(b)) for b in built)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--owners", type=int, default=500)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--target", type=float, default=5.0, help="seconds for load_all")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="PostgreSQL URL (default: $DATABASE_URL, else SQLite)")
    parser.add_argument("--db", type=Path,
                        default=Path(tempfile.gettempdir()) / "finops-bench" / "digest_scale.db",
                        help="SQLite file (rebuilt unless --reuse)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the database when it already has the requested row counts")
    parser.add_argument("--profile", action="store_true",
                        help="print the top functions of one more load_all run (cProfile)")
    args = parser.parse_args(argv)

    if args.database_url:
        engine = pg_engine(args.database_url)
    else:
        args.db.parent.mkdir(parents=True, exist_ok=True)
        if not args.reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{args.db}")
    print(f"database: {engine.dialect.name} {engine.url.render_as_string(hide_password=True)}")
    want = (args.resources, args.resources * args.days)
    started = time.perf_counter()
    with engine.connect() as conn:
        reused = args.reuse and engine.dialect.has_table(conn, "cost_daily")
    reused = reused and counts(engine) == want
    if not reused:
        _recreate_schema(engine)
        upgrade(engine)
        populate(engine, n_resources=args.resources, days=args.days, n_owners=args.owners,
                 n_teams=args.teams, seed=args.seed)
        print(f"generated {want[0]:,} resources, {want[1]:,} cost rows "
              f"in {time.perf_counter() - started:.1f}s (not measured)")
    else:
        upgrade(engine)  # pending migrations (e.g. a new index) are applied, and timed here
        print(f"reused {want[0]:,} resources, {want[1]:,} cost rows "
              f"(upgrade {time.perf_counter() - started:.1f}s)")

    # what an ingest leaves behind: the scope rollup and the recent-cost snapshot (timed apart:
    # ingest pays for them, the digest job reads them)
    started = time.perf_counter()
    with Session(engine) as session:
        rollup.rebuild(session)
        rolled = time.perf_counter()
        rollup.refresh_recent(session, as_of=LAST_DAY)
        recent = time.perf_counter()
        sync(session, config=make_config(args.teams), now=datetime.combine(
            LAST_DAY + timedelta(days=1), datetime.min.time(), UTC))
        session.commit()
    print(f"rollups   scope rollup rebuilt in {rolled - started:.1f}s, recent-cost snapshot "
          f"in {recent - rolled:.1f}s, TTL workflows synced in "
          f"{time.perf_counter() - recent:.1f}s (ingest's share, not in load_all)")

    config = make_config(args.teams)
    today = LAST_DAY + timedelta(days=1)
    now = datetime.combine(today, datetime.min.time(), UTC).replace(hour=9)
    end = today - timedelta(days=1)
    window = {"start": end - timedelta(days=WINDOW_DAYS - 1), "end": end}

    def bare() -> int:
        with Session(engine) as session:
            return len(session.execute(text(_BASELINE).bindparams(
                bindparam("start", type_=Date), bindparam("end", type_=Date)), window).all())

    def ours() -> list[Built]:
        with Session(engine) as session:
            return load_all(session, config, today=today, now=now)

    bare()  # both sides start from the same warm page cache
    base_s, groups = timed(bare, args.repeat)
    ours_s, built = timed(ours, args.repeat)
    best_base, best_ours = min(base_s), min(ours_s)
    teams = sum(b.team is not None for b in built)
    print(f"baseline  bare SQL owner x day sum over {WINDOW_DAYS} days ({groups:,} groups): "
          + ", ".join(f"{s:.2f}s" for s in base_s))
    print(f"ours      load_all ({teams} team + {len(built) - teams} owner digests): "
          + ", ".join(f"{s:.2f}s" for s in ours_s))
    print(f"best      ours {best_ours:.2f}s vs bare {best_base:.2f}s = {best_ours / best_base:.2f}x"
          f"; median ours {statistics.median(ours_s):.2f}s; target <= {args.target:.1f}s: "
          f"{'met' if best_ours <= args.target else 'MISSED'}")
    print(f"fingerprint {fingerprint(built)}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(ours)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
