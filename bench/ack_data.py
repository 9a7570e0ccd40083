"""The database `bench/ack_latency.py` measures against: 100,000 resources and their costs.

Resources get owners and teams, 30 days of daily costs (quieter at weekends), the cost rollups an
ingest keeps current and cached Slack ids, so that `/finops costs` finds all it needs stored.
SQLite in the temp dir by default; PostgreSQL in a database of its own, created if missing.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from scratch import pg_engine
from sqlalchemy import Engine, bindparam, func, insert, select, text
from sqlalchemy.types import Date
from sqlmodel import Session, col

from bot.config import Config, Team
from storage import rollup
from storage.db import make_engine, upgrade
from storage.models import CostDaily, Resource, SlackIdentity

LAST_DAY = date(2026, 11, 30)  # fixed data; the server's clock reads the day after, 10:00 UTC
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
OWNERS, TEAMS = 500, 20
SERVICES = ["AmazonEC2", "AmazonS3", "AmazonRDS", "AWSLambda", "BigQuery", "Cloud SQL",
            "Virtual Machines", "Storage"]
_FILL_DAY = text(
    "INSERT INTO cost_daily (day, resource_id, provider, billing_account_id, sub_account_id, "
    "sub_account_name, service, region, resource_name, resource_type, currency, billed_cost, "
    "effective_cost, list_cost) "
    "SELECT :day, resource_id, provider, 'payer', account_id, account_name, service, region, "
    "name, resource_type, 'USD', c, c, c * 1.3 FROM (SELECT r.*, "
    "(1 + (length(r.resource_id) * 7 + :k * 13) % 17) * 0.37 * :factor AS c "
    "FROM resource r) AS s"
).bindparams(bindparam("day", type_=Date))


def make_config(n_teams: int) -> Config:
    return Config(teams={f"team-{t:02d}": Team(budget=50_000.0, slack_channel=f"#team-{t:02d}")
                         for t in range(n_teams)})


def user_id(owner: int) -> str:
    return f"U{owner:06d}"


def populate(engine: Engine, *, n_resources: int, days: int, n_owners: int, n_teams: int,
             seed: int) -> None:
    """Fresh schema; resources with owners and teams, their daily costs, cached Slack ids."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    rng = random.Random(seed)
    accounts = [str(rng.randrange(10**11, 10**12)) for _ in range(40)]
    first = LAST_DAY - timedelta(days=days - 1)
    rows = []
    for n in range(n_resources):
        owner, account = rng.randrange(n_owners), rng.choice(accounts)
        team = owner % n_teams if rng.random() < 0.95 else rng.randrange(n_teams)
        rows.append({
            "resource_id": f"aws:{account}:i-{n:08x}", "provider": "aws", "account_id": account,
            "account_name": f"acct {account}", "region": "us-east-1",
            "service": SERVICES[n % len(SERVICES)], "resource_type": "instance",
            "name": f"svc{n % 300:03d}-{n}", "tags": "{}", "state": "running",
            "first_seen": first, "last_seen": LAST_DAY, "owner": f"user{owner:03d}@example.com",
            "team": f"team-{team:02d}", "owner_source": "tag:owner"})
    with engine.begin() as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(Resource), rows[start:start + 10_000])
        for k in range(days):
            day = first + timedelta(days=k)
            conn.execute(_FILL_DAY, {"day": day, "k": k,
                                     "factor": 0.6 if day.weekday() >= 5 else 1.0})
        conn.execute(insert(SlackIdentity), [
            {"email": f"user{o:03d}@example.com", "user_id": user_id(o), "looked_up_at": NOW}
            for o in range(n_owners)])
    with Session(engine) as session:  # what an ingest keeps current (storage.rollup)
        rollup.rebuild(session)
        rollup.refresh_recent(session, as_of=LAST_DAY)
        session.commit()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def prepare(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The database URL, (re)built unless --reuse finds the requested row counts; some ids."""
    if args.database_url:
        engine, url = pg_engine(args.database_url), args.database_url
    else:
        args.db.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm") if not args.reuse else ():
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{args.db}"
        engine = make_engine(url)
    want, started = (args.resources, args.resources * args.days), time.perf_counter()
    with engine.connect() as conn:
        have = engine.dialect.has_table(conn, "cost_daily") and (
            conn.execute(select(func.count()).select_from(Resource)).scalar_one(),
            conn.execute(select(func.count()).select_from(CostDaily)).scalar_one())
    if args.reuse and have == want:
        upgrade(engine)
        print(f"reused {want[0]:,} resources, {want[1]:,} cost rows ({engine.dialect.name})")
    else:
        populate(engine, n_resources=args.resources, days=args.days, n_owners=OWNERS,
                 n_teams=TEAMS, seed=args.seed)
        print(f"generated {want[0]:,} resources, {want[1]:,} cost rows ({engine.dialect.name}) "
              f"in {time.perf_counter() - started:.1f}s (not measured)")
    with engine.connect() as conn:
        rids = list(conn.execute(select(col(Resource.resource_id))
                                 .order_by(col(Resource.resource_id)).limit(2000)).scalars())
    engine.dispose()
    return url, rids


