"""Load: 20 concurrent clients sending signed slash commands and button clicks for 60 s, against
one replica and against two (`finops-bot run` processes on one PostgreSQL, the clients spread
over them as a load balancer would).

    python bench/load.py [--clients 20] [--seconds 60] [--database-url URL]

The replicas run the demo config and data (loaded once) against a fake Slack Web API in this
process. Each client loops: pick a request (`/finops help`, `costs team platform`, `envs`,
`anomalies`, `ttl perf-test-bob`, an anomaly's Acknowledge button), sign it like Slack, POST it
to /slack/events, and time the answer (Slack's 3 s ack). Printed per setup: requests, requests
per second, p50 / p99 / max ack latency, errors (any non-200 or transport error), how many
requests were answered (in the ack itself, like `help`, or later on the response URL) and how
long after the load the last answer came.

PostgreSQL only (several replicas need it): DATABASE_URL or --database-url; a scratch database
``finops_load`` beside it is rebuilt (never point this at data you keep).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.pg import scratch_database  # noqa: E402
from tests.scenario.harness import signed_headers  # noqa: E402

SECRET = "load-signing-secret"
USERS = {"alice@example.com": "U0ALICE", "bob@example.com": "U0BOB",
         "carol@example.com": "U0CAROL"}
COMMANDS = ["help", "costs team platform", "envs", "anomalies", "ttl perf-test-bob",
            "costs me 30d", "resources team data"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(fake: FakeSlack, rng: random.Random) -> bytes:
    user = rng.choice(list(USERS.values()))
    return urlencode({
        "token": "legacy", "team_id": "T0FAKE", "channel_id": "C0GENERAL",
        "channel_name": "general", "user_id": user, "user_name": user.lower(),
        "command": "/finops", "text": rng.choice(COMMANDS),
        "response_url": fake.response_url("load"), "trigger_id": "1.2.3",
        "api_app_id": "A0FINOPS",
    }).encode()


def _click(fake: FakeSlack, rng: random.Random, anomaly_ids: list[int]) -> bytes:
    payload = {
        "type": "block_actions", "team": {"id": "T0FAKE"}, "api_app_id": "A0FINOPS",
        "user": {"id": rng.choice(list(USERS.values())), "team_id": "T0FAKE"},
        "trigger_id": "1.2.4", "response_url": fake.response_url("click"),
        "container": {"type": "message", "channel_id": "C0GENERAL", "message_ts": "1.2"},
        "channel": {"id": "C0GENERAL"},
        "actions": [{"type": "button", "action_id": "anomaly_ack", "block_id": "b",
                     "value": str(rng.choice(anomaly_ids or [1])), "action_ts": "1.3"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def _client(urls: list[str], fake: FakeSlack, seconds: float, seed: int,
            anomaly_ids: list[int], out: list[tuple[float, bool, bool]]) -> None:
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10) as http:
        turn = seed
        while time.monotonic() < deadline:
            turn += 1
            url = urls[turn % len(urls)]
            body = _command(fake, rng) if rng.random() < 0.8 else _click(fake, rng, anomaly_ids)
            started = time.perf_counter()
            try:
                response = http.post(url, content=body,
                                     headers=signed_headers(body, secret=SECRET))
                ok = response.status_code == 200
                inline = ok and bool(response.content.strip())  # answered in the ack itself
            except httpx.HTTPError:
                ok = inline = False
            out.append((time.perf_counter() - started, ok, inline))


def _start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=log.parent,
                                env={**env, "PORT": str(port)}, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"replica exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(base + "/healthz", timeout=2)
            return proc, base + "/slack/events"
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("replica did not start")


def _run(label: str, urls: list[str], fake: FakeSlack, clients: int, seconds: float,
         anomaly_ids: list[int]) -> None:
    fake.reset()
    results: list[tuple[float, bool, bool]] = []
    threads = [threading.Thread(target=_client, args=(urls, fake, seconds, i, anomaly_ids,
                                                      results)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # answers come after the ack, on the response URLs: wait until they stop arriving
    drained, seen, quiet_since = time.monotonic(), -1, time.monotonic()
    while time.monotonic() - quiet_since < 2 and time.monotonic() - drained < 120:
        if len(fake.replies) != seen:
            seen, quiet_since = len(fake.replies), time.monotonic()
        time.sleep(0.1)
    drain = max(0.0, quiet_since - drained)
    latencies = sorted(r[0] for r in results)
    errors = sum(not r[1] for r in results)
    inline = sum(r[2] for r in results)
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    print(f"{label:13s} {len(results):6d} requests  {len(results) / elapsed:7.1f} req/s  "
          f"ack p50 {statistics.median(latencies) * 1000:6.1f} ms  p99 {p99 * 1000:7.1f} ms  "
          f"max {latencies[-1] * 1000:7.1f} ms  errors {errors}  "
          f"answers {len(fake.replies) + inline} = {inline} in the ack + {len(fake.replies)} "
          f"later (the last {drain:.1f} s after the load)", flush=True)
    refused = Counter(f"{c.status} {c.response}" for c in fake.calls("response_url")
                      if c.status != 200)
    if refused:
        print(f"{'':13s} answers refused by the fake Slack: {dict(refused)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)
    if not (args.database_url or "").startswith("postgresql"):
        raise SystemExit("give a PostgreSQL DATABASE_URL (several replicas need one)")
    os.environ["DATABASE_URL"] = args.database_url
    database = scratch_database("finops_load").render_as_string(hide_password=False)
    work = Path(tempfile.mkdtemp(prefix="finops-load-"))
    with FakeSlack(users=dict(USERS)) as fake:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLACK_", "FINOPS_", "JIRA_", "GITHUB_", "GITLAB_",
                                    "JENKINS_"))}
        env.update({"DATABASE_URL": database, "SLACK_BOT_TOKEN": fake.token,
                    "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.base_url})
        for step in (["db", "upgrade"], ["ingest", "--provider", "demo"]):
            subprocess.run([sys.executable, "-m", "handlers.cli", *step], cwd=ROOT, env=env,
                           check=True, capture_output=True)
        from sqlalchemy import create_engine, text

        engine = create_engine(database)
        with engine.connect() as conn:
            anomaly_ids = [int(r[0]) for r in conn.execute(text("SELECT id FROM anomaly"))]
        engine.dispose()
        print(f"{os.cpu_count()} CPUs; {args.clients} clients for {args.seconds:g} s each; "
              f"80% slash commands, 20% button clicks", flush=True)
        first, url1 = _start(env, work / "a.log")
        second = None
        try:
            _run("one replica", [url1], fake, args.clients, args.seconds, anomaly_ids)
            second, url2 = _start(env, work / "b.log")
            _run("two replicas", [url1, url2], fake, args.clients, args.seconds, anomaly_ids)
        finally:
            for proc in (first, second):
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
