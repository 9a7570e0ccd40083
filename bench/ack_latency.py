"""Ack latency of `/finops costs` under 20 concurrent clients, beside a bare Bolt app.

    python bench/ack_latency.py [--resources N] [--days N] [--clients N] [--duration S]
                                [--no-wait] [--db PATH] [--reuse]

Builds a database (``bench/ack_data.py``: SQLite in the temp dir; PostgreSQL with --database-url /
DATABASE_URL, created if missing, schema rebuilt, ``test`` refused) with 100,000 resources and 30
days of their costs, then serves each app in turn in its own process under uvicorn on 127.0.0.1:
  bare  slack_bolt App, same signing secret, one ``@app.command("/finops")`` that only acks,
        behind the same route (handlers.slack.slack_route: signature, then dispatch in a thread);
  ours  app.build_asgi, Web API on a loopback FakeSlack that also takes the response_url answers.
--clients threads (httpx) send signed ``costs team T`` / ``costs me`` / ``costs resource R`` for
--duration s; a client of ours waits for its answer before its next command (--no-wait: sends
again at the ack). Printed per phase: throughput, ack latency (to the HTTP 200) p50/p99/max,
errors, acks over Slack's 3 s, and for ours send->answer latency. A third phase runs bare again
paced at ours' request rate (p99 at equal load). Target: p99(ours) / p99(bare) <= 1.5.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from ack_data import NOW, OWNERS, TEAMS, make_config, prepare, user_id  # noqa: E402

from storage.db import make_engine  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
SLACK_ACK_LIMIT = 3.0


# --- the servers (each runs in a child process: `--serve bare|ours`) -------------------------

def _asgi(kind: str, database_url: str, slack_url: str) -> Any:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient
    from starlette.applications import Starlette

    from handlers.slack import slack_route

    if kind == "bare":
        bare = App(client=WebClient(token=TOKEN, base_url=slack_url), signing_secret=SECRET,
                   token_verification_enabled=False, process_before_response=False)

        @bare.command("/finops")
        def _noop(ack: Ack) -> None:
            ack()

        return Starlette(routes=[slack_route(bare, signing_secret=SECRET)])

    from pydantic import SecretStr

    from app import build_asgi
    from bot.services import Services
    from bot.settings import Settings
    from providers.slack import SlackTransport

    settings = Settings(database_url=database_url, slack_bot_token=SecretStr(TOKEN),
                        slack_signing_secret=SecretStr(SECRET), slack_api_url=slack_url)
    services = Services(settings=settings, config=make_config(TEAMS),
                        engine=make_engine(database_url),
                        chat=SlackTransport(TOKEN, base_url=slack_url), clock=lambda: NOW)
    return build_asgi(services)


def serve_child(kind: str, database_url: str, slack_url: str) -> None:
    """Serve until stdin closes; the chosen port goes to stdout as ``PORT <n>``."""
    import uvicorn

    config = uvicorn.Config(_asgi(kind, database_url, slack_url), host="127.0.0.1",
                            port=0, log_level="warning", lifespan="off", access_log=False)
    if kind == "ours":
        from app import settle_heap

        settle_heap()  # as app.serve does before it serves
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    print(f"PORT {server.servers[0].sockets[0].getsockname()[1]}", flush=True)
    sys.stdin.read()
    server.should_exit = True
    thread.join(timeout=10)
    os._exit(0)  # listener threads still answering must not hold the process


@contextmanager
def child(args: list[str], *, announces: str, stderr: Any = None) -> Iterator[str]:
    """This script run again with ``args``, until the block ends (its stdin closes); yields
    the word that follows ``announces`` on the first line it prints."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = proc.stdout.readline()
        if not line.startswith(announces + " "):
            raise RuntimeError(f"{' '.join(args)} did not start: {line!r}")
        yield line.split()[1]
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@contextmanager
def server(kind: str, database_url: str, slack_url: str) -> Iterator[str]:
    log = Path(tempfile.gettempdir()) / "finops-bench" / f"ack_latency-{kind}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as err:  # Bolt's warnings (e.g. "didn't call ack()") go there
        args = ["--serve", kind, "--database-url", database_url, "--slack-url", slack_url]
        with child(args, announces="PORT", stderr=err) as port:
            yield f"http://127.0.0.1:{int(port)}"
    warned = sum("didn't call ack()" in line for line in log.read_text().splitlines())
    if warned:
        print(f"{'':<16} {kind}: {warned} commands not acked within 3 s (see {log})")


# --- the clients ------------------------------------------------------------------------------

class AnsweringSlack(FakeSlack):
    """The fake Slack, noting when each response_url receives its answer.

    It runs in its own process (``--serve-slack``), so that checking the answers' Block Kit does
    not take the GIL from the clients timing their acks. The clients make up their response
    URLs (``/response/<token>``) and wait for an answer with ``GET /bench/wait/<token>?t=S``:
    up to S seconds, answering its arrival ``time.monotonic()`` (or ``None``).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrived: dict[str, float] = {}
        self._cv = threading.Condition()

    def _respond(self, token: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with self._lock:  # the clients name their response URLs themselves (no round trip)
            self._response_urls.setdefault(token, 0)
        result = super()._respond(token, headers, body)
        with self._cv:
            self.arrived.setdefault(token, time.monotonic())
            self._cv.notify_all()
        return result

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        url = urlsplit(req.path)
        if not url.path.startswith("/bench/"):
            return super()._handle(req)
        token = url.path.rsplit("/", 1)[1]
        with self._cv:
            self._cv.wait_for(lambda: token in self.arrived, float(url.query[2:]))
            payload = repr(self.arrived.get(token))
        data = payload.encode()
        req.send_response(200)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)
        return None


class SlackClient:
    """The load clients' side of the fake Slack in its child process."""

    def __init__(self, root_url: str) -> None:
        self.root_url = root_url


    def wait(self, http: httpx.Client, token: str, timeout: float) -> float | None:
        reply = http.get(f"{self.root_url}/bench/wait/{token}", params={"t": f"{timeout:.3f}"},
                         timeout=timeout + 10).text
        return None if reply == "None" else float(reply)


def serve_slack() -> None:
    """The fake Slack until stdin closes; its root URL goes to stdout as ``URL <url>``."""
    fake = AnsweringSlack(token=TOKEN, users={f"user{o:03d}@example.com": user_id(o)
                                              for o in range(OWNERS)})
    with fake:
        print(f"URL {fake.root_url}", flush=True)
        sys.stdin.read()
    os._exit(0)


@contextmanager
def fake_slack() -> Iterator[SlackClient]:
    with child(["--serve-slack"], announces="URL") as url:
        yield SlackClient(url)


@dataclass
class Stats:
    """What one phase measured."""

    seconds: float = 0.0
    acks: list[float] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)
    by_verb: dict[str, list[float]] = field(default_factory=dict)
    unanswered: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def answered(self, arrived: float | None, sent: float, text: str) -> None:
        with self.lock:
            if arrived is None:
                self.unanswered += 1
            else:
                self.answers.append(arrived - sent)
                self.by_verb.setdefault(" ".join(text.split()[:2]), []).append(arrived - sent)


_PHASES = itertools.count(1)


def _signed(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}",
            "Content-Type": "application/x-www-form-urlencoded"}


def run_phase(url: str, fake: SlackClient, *, commands: list[tuple[str, str]], clients: int,
              duration: float, answers: bool, wait_answer: bool, rate: float | None = None,
              answer_timeout: float = 60.0, drain: float = 60.0, seed: int = 1) -> Stats:
    """``clients`` threads sending commands for ``duration`` s (paced to ``rate`` req/s if set).

    With ``answers``, the reply to each command is expected at its response_url: inline before
    the client's next command (``wait_answer``, up to ``answer_timeout``) or within ``drain``
    seconds after the phase.
    """
    stats = Stats()
    phase = next(_PHASES)  # response URLs are never reused across phases
    pending: list[tuple[str, float, str]] = []  # (token, sent, text) not waited for inline
    start = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        interval = clients / rate if rate else 0.0
        sent_count = 0
        with httpx.Client(timeout=30) as http, httpx.Client(timeout=30) as slack:
            start.wait()
            t_end = time.perf_counter() + duration
            next_at = time.perf_counter() + rng.random() * interval
            while time.perf_counter() < t_end:
                if interval:
                    time.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at += interval * (0.5 + rng.random())
                uid, text_ = rng.choice(commands)
                sent_count += 1
                token = f"{phase}-c{i}-{sent_count}"
                response_url = f"{fake.root_url}/response/{token}"
                body = urlencode({
                    "token": "legacy", "team_id": "T0FAKE", "channel_id": "C0GENERAL",
                    "user_id": uid, "command": "/finops", "text": text_,
                    "response_url": response_url, "trigger_id": "1.2.3", "api_app_id": "A0",
                }).encode()
                sent = time.monotonic()  # the clock the fake Slack's arrival times are on
                try:
                    resp = http.post(url + "/slack/events", content=body, headers=_signed(body))
                except httpx.HTTPError as exc:
                    stats.error(type(exc).__name__)
                    continue
                acked = time.monotonic() - sent
                if resp.status_code != 200:
                    stats.error(f"HTTP {resp.status_code}")
                    continue
                with stats.lock:
                    stats.acks.append(acked)
                if answers and wait_answer:
                    stats.answered(fake.wait(slack, token, answer_timeout), sent, text_)
                elif answers:
                    with stats.lock:
                        pending.append((token, sent, text_))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    stats.seconds = time.perf_counter() - began
    deadline = time.monotonic() + drain
    with httpx.Client() as slack:
        for token, sent, text_ in pending:
            left = max(0.0, deadline - time.monotonic())
            stats.answered(fake.wait(slack, token, left), sent, text_)
    return stats


def _pct(data: list[float], q: int) -> float:
    if len(data) < 2:
        return data[0] if data else float("nan")
    return statistics.quantiles(data, n=100, method="inclusive")[q - 1]


def show(name: str, s: Stats) -> None:
    late = sum(a > SLACK_ACK_LIMIT for a in s.acks)
    ms = [a * 1000 for a in s.acks]
    print(f"{name:<16} {len(s.acks) / s.seconds:7.1f} req/s (n={len(s.acks)})  "
          f"ack p50 {_pct(ms, 50):7.1f} ms  "
          f"p99 {_pct(ms, 99):7.1f} ms  max {max(ms, default=float('nan')):7.1f} ms  "
          f"errors {sum(s.errors.values())}{' ' + str(s.errors) if s.errors else ''}  "
          f"late(>3s) {late}")
    if s.answers or s.unanswered:
        print(f"{'':<16} answers {len(s.answers)} (+{s.unanswered} not within the timeout): "
              f"send->reply p50 {_pct(s.answers, 50) * 1000:.0f} ms  "
              f"p99 {_pct(s.answers, 99) * 1000:.0f} ms  max {max(s.answers) * 1000:.0f} ms")
        print(f"{'':<16} " + "  ".join(
            f"{verb}: p50 {_pct(v, 50) * 1000:.0f} p99 {_pct(v, 99) * 1000:.0f} ms"
            for verb, v in sorted(s.by_verb.items())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, type_, default, text_ in (
        ("--resources", int, 100_000, "resources in the database"),
        ("--days", int, 30, "days of costs per resource"),
        ("--clients", int, 20, "concurrent client threads"),
        ("--duration", float, 20.0, "seconds per measured phase"),
        ("--warmup", float, 3.0, "seconds of unmeasured load before each phase"),
        ("--seed", int, 5, "seed of the generated data and command mix"),
    ):
        parser.add_argument(flag, type=type_, default=default, help=text_)
    parser.add_argument("--no-wait", action="store_true",
                        help="clients of ours send again at the ack, not at the answer")
    parser.add_argument("--no-equal-rate", action="store_true",
                        help="skip the bare phase paced at ours' request rate")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="PostgreSQL URL (default: $DATABASE_URL, else SQLite)")
    parser.add_argument("--db", type=Path,
                        default=Path(tempfile.gettempdir()) / "finops-bench" / "ack_latency.db")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the database when it already has the requested row counts")
    parser.add_argument("--serve", choices=["bare", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--slack-url", help=argparse.SUPPRESS)
    parser.add_argument("--serve-slack", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_slack:
        serve_slack()
        return 0
    if args.serve:
        serve_child(args.serve, args.database_url, args.slack_url)
        return 0

    url, rids = prepare(args)
    rng = random.Random(args.seed)
    commands: list[tuple[str, str]] = []
    for _ in range(3000):
        uid = user_id(rng.randrange(OWNERS))
        commands += [(uid, f"costs team team-{rng.randrange(TEAMS):02d}"), (uid, "costs me"),
                     (uid, f"costs resource {rng.choice(rids)}")]
    results: dict[str, Stats] = {}
    with fake_slack() as fake:
        slack_api = fake.root_url + "/api/"
        for kind in ("bare", "ours"):
            with server(kind, url, slack_api) as base:
                for seconds, drain in ((args.warmup, 0.0), (args.duration, 60.0)):
                    if seconds:  # the warm-up's answers still queued are not waited for
                        results[kind] = run_phase(
                            base, fake, commands=commands, clients=args.clients,
                            duration=seconds, answers=kind == "ours",
                            wait_answer=not args.no_wait, drain=drain)
            show(kind, results[kind])
        rate = len(results["ours"].acks) / results["ours"].seconds
        if not args.no_equal_rate and rate > 0:
            with server("bare", url, slack_api) as base:
                results["bare@rate"] = run_phase(base, fake, commands=commands,
                                                 clients=args.clients, duration=args.duration,
                                                 answers=False, wait_answer=False, rate=rate)
            show("bare@ours' rate", results["bare@rate"])
    p99 = {k: _pct(v.acks, 99) for k, v in results.items()}
    print(f"p99 ratio ours/bare (both closed-loop, {args.clients} clients): "
          f"{p99['ours'] / p99['bare']:.2f}  (target <= 1.5)")
    if "bare@rate" in p99:
        print(f"p99 ratio ours/bare at the same request rate ({rate:.1f} req/s): "
              f"{p99['ours'] / p99['bare@rate']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
