"""The `finops-bot` CLI in-process against the real database: ingest, report, jobs, shell."""

from __future__ import annotations

import csv
import gc
import io
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot.jobs import JOBS
from handlers.cli import main
from storage.models import CostDaily, CostDayDigest
from tests.conftest import DATA, free_port

SAMPLE = DATA / "focus-sample" / "focus_sample.csv"
# column sums of the sample, from its PROVENANCE.md
SUMS = {"EffectiveCost": 14.976514, "BilledCost": 20.520227, "ListCost": 20.390906}


@pytest.fixture
def env(db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Engine:
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    config = tmp_path / "finops.yaml"
    config.write_text("teams: {web: {budget: 10}}\n")
    monkeypatch.setenv("FINOPS_CONFIG", str(config))
    return db


def _rows(db: Engine) -> int:
    with Session(db) as session:
        return int(session.execute(select(func.count()).select_from(CostDaily)).scalar_one())


def _report_csv(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, str]]:
    capsys.readouterr()
    assert main(["report", "--start", "2024-09-01", "--end", "2024-09-30", "--format", "csv",
                 *args]) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


@pytest.mark.parametrize("metric", list(SUMS))
def test_report_over_the_focus_sample_matches_its_column_sums(
        env: Engine, capsys: pytest.CaptureFixture[str], metric: str) -> None:
    assert main(["ingest", str(SAMPLE)]) == 0
    for group_by in ("service", "account", "resource", "day", "owner"):
        rows = _report_csv(capsys, "--group-by", group_by, "--metric", metric)
        assert list(rows[0]) == [group_by, "currency", "cost"]
        assert {r["currency"] for r in rows} == {"USD"}
        assert round(sum(float(r["cost"]) for r in rows), 2) == round(SUMS[metric], 2)
        assert abs(sum(float(r["cost"]) for r in rows) - SUMS[metric]) < 1e-5


def test_reingest_never_double_counts(env: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(SAMPLE)]) == 0
    count = _rows(env)
    capsys.readouterr()
    assert main(["ingest", str(SAMPLE)]) == 0
    assert _rows(env) == count
    assert f" 0 replaced, {count} unchanged," in capsys.readouterr().out  # nothing rewritten
    with Session(env) as session:  # the days were told apart by the reader's own digests
        digests = session.execute(select(CostDayDigest.digest)).scalars().all()
    assert digests and all(d.startswith("duckdb-hash:") for d in digests)
    rows = _report_csv(capsys, "--group-by", "service")
    assert abs(sum(float(r["cost"]) for r in rows) - SUMS["EffectiveCost"]) < 1e-5


def test_json_and_table_formats(env: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["ingest", str(SAMPLE)]) == 0
    capsys.readouterr()
    assert main(["report", "--start", "2024-09-01", "--end", "2024-09-30", "--group-by",
                 "provider", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["provider"] for d in data} == {"AWS", "Microsoft", "Oracle"}
    assert main(["report", "--start", "2024-09-01", "--end", "2024-09-30"]) == 0
    assert "total" in capsys.readouterr().out


def test_a_report_on_stdout_is_only_the_report(db: Engine, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)  # the bundled demo, loaded by this run
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert main(["report", "--start", str(yesterday - timedelta(days=6)), "--end",
                 str(yesterday), "--group-by", "team", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    # what the demo's first load would send to Slack (its anomaly alerts) is not in the JSON
    assert {d["team"] for d in json.loads(out)} >= {"platform", "data", "web"}
    assert "--- " in err and "Cost anomaly" in err
    assert main(["report", "--start", "2030-01-01", "--end", "2030-01-31", "--format",
                 "csv"]) == 0
    out, err = capsys.readouterr()
    assert out == "service,currency,cost\n"  # the header alone: nothing in that period
    assert err == (f"no costs from 2030-01-01 to 2030-01-31; the costs stored run from "
                   f"{yesterday - timedelta(days=74)} to {yesterday}\n")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("BilledCost,EffectiveCost,ChargePeriodStart,BillingCurrency\nabc,1,2024-09-01,USD\n",
         ["BilledCost", "abc"]),
        ("BilledCost,ChargePeriodStart,BillingCurrency\n1,2024-09-01,USD\n", ["EffectiveCost"]),
        ("BilledCost,EffectiveCost,ChargePeriodStart,BillingCurrency\n1,1,yesterday,USD\n",
         ["ChargePeriodStart"]),
    ],
)
def test_bad_files_fail_with_one_line_and_write_nothing(
        env: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str,
        fragments: list[str]) -> None:
    assert main(["ingest", str(SAMPLE)]) == 0
    before = _rows(env)
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    capsys.readouterr()
    assert main(["ingest", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert "bad.csv" in err
    for fragment in fragments:
        assert fragment in err
    assert _rows(env) == before  # the period's previous data stays


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["report", "--start", "yesterday", "--end", "2024-09-30"],
         ["--start", "'yesterday' is not a date (YYYY-MM-DD)"]),
        (["report", "--start", "2024-09-30", "--end", "2024-09-01"],
         ["--end", "2024-09-01 is before --start 2024-09-30"]),
        (["ingest", str(SAMPLE), "--start", "2024-09-30", "--end", "2024-09-01"],
         ["2024-09-01 is before --start 2024-09-30"]),
        (["ingest"], ["give PATH... or --provider NAME"]),
        (["report", "--end", "2024-09-30"], ["Missing option", "--start"]),
        (["report", "--start", "2024-09-01", "--end", "2024-09-30", "--group-by", "planet"],
         ["--group-by", "planet"]),
        (["report", "--start", "2024-09-01", "--end", "2024-09-30", "--metric", "Cost"],
         ["--metric", "'Cost' is not one of", "EffectiveCost", "BilledCost", "ListCost"]),
        (["frobnicate"], ["No such command", "frobnicate"]),
        (["shell", "--user", "bob"], ["--user", "'bob' is not an email address"]),
    ],
)
def test_usage_errors_are_usage_and_one_message_not_a_traceback(
        env: Engine, capsys: pytest.CaptureFixture[str], args: list[str],
        fragments: list[str]) -> None:
    assert main(["ingest", str(SAMPLE)]) == 0
    before = _rows(env)
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Usage: finops-bot" in err
    flat = " ".join(err.replace("│", " ").split())  # the message as one line, box and wraps gone
    for fragment in fragments:
        assert fragment in flat
    assert _rows(env) == before


def test_options_to_app_py_are_options_of_run(capsys: pytest.CaptureFixture[str]) -> None:
    import app

    assert app.main(["--port", "not-a-port"]) == 2  # refused before anything starts
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert "Usage: finops-bot run" in err and "Invalid value for '--port'" in err
    assert app.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "ingest" in out and "report" in out  # the whole command line


def test_a_provider_without_accounts_names_those_there_are(
        env: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "accounts.yaml"
    config.write_text(f"accounts: [{{provider: focus, name: files, path: '{SAMPLE}'}}]\n")
    monkeypatch.setenv("FINOPS_CONFIG", str(config))
    assert main(["ingest", "--provider", "aws"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: no account with provider 'aws' in the config (accounts' providers: focus)")
    assert _rows(env) == 0
    assert main(["ingest", "--provider", "focus"]) == 0
    assert _rows(env) > 0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "abc", "error: environment: PORT: Input should be a valid integer, unable to "
                        "parse string as an integer (got 'abc')"),
        ("LOG_LEVEL", "loud", "error: environment: LOG_LEVEL: Input should be 'DEBUG', 'INFO', "
                              "'WARNING', 'ERROR' or 'CRITICAL' (got 'LOUD')"),
        ("DATABASE_URL", "nonsense", "error: DATABASE_URL 'nonsense' cannot be used: Could not "
                                     "parse SQLAlchemy URL"),
        ("DATABASE_URL", "postgresql+nodriver://u:hunter2@db/x",
         "error: DATABASE_URL 'postgresql+nodriver://u:***@db/x' cannot be used: Can't load "
         "plugin: sqlalchemy.dialects:postgresql.nodriver"),
    ],
)
def test_a_bad_environment_variable_is_named_in_one_line(
        env: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        name: str, value: str, expected: str) -> None:
    monkeypatch.setenv(name, value)
    for args in (["jobs", "list"], ["report", "--start", "2024-09-01", "--end", "2024-09-30"]):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.startswith(expected) and err.count("\n") == 1 and "hunter2" not in err


def test_socket_mode_that_cannot_connect_stops_the_start_in_one_line(
        env: Engine, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{free_port()}/api/"  # apps.connections.open is refused
    for name, value in (("SLACK_APP_TOKEN", "xapp-1-test"), ("SLACK_BOT_TOKEN", "xoxb-test"),
                        ("SLACK_API_URL", closed)):
        monkeypatch.setenv(name, value)
    root = logging.getLogger()  # `run` logs to stderr through a handler of its own on root
    handlers, level = list(root.handlers), root.level
    try:
        assert main(["run", "--port", str(free_port())]) == 1
    finally:
        root.handlers[:], root.level = handlers, level
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith(
        "error: Slack Socket Mode (SLACK_APP_TOKEN) could not connect: URLError: ")
    assert "Connection refused" in err.splitlines()[-1]
    gc.collect()  # a database connection left open by the failed start would be reported here


def test_bad_config_fails_at_start(env: Engine, capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("teams:\n  web:\n    budget: lots\n")
    monkeypatch.setenv("FINOPS_CONFIG", str(config))
    assert main(["jobs", "list"]) == 1
    err = capsys.readouterr().err
    assert "broken.yaml" in err and "teams.web.budget" in err


def test_jobs_list_and_run(env: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("ingest", "assign", "scan", "digest"):
        assert name in out
    # three columns, each starting at the same place on every line (lifecycle is the longest)
    lines = out.splitlines()
    assert len(lines) == len(JOBS)
    when_at = {len(line) - len(line.split(maxsplit=1)[1]) for line in lines}
    description_at = {line.index(job.description) for line, job in zip(lines, JOBS.values(),
                                                                        strict=True)}
    assert len(when_at) == 1 and len(description_at) == 1, lines
    assert main(["jobs", "run", "assign"]) == 0
    assert "assignments changed" in capsys.readouterr().out
    assert main(["jobs", "run", "nope"]) == 1
    assert "no job named 'nope'" in capsys.readouterr().err


def test_shell_speaks_the_command_grammar(db: Engine, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)  # the bundled demo
    monkeypatch.setattr(sys, "stdin", io.StringIO(
        "help\n/finops costs team data 30d\nresources\nfrobnicate\nexit\ncosts\n"))
    assert main(["shell", "--user", "Bob@Example.com"]) == 0
    out = capsys.readouterr().out
    assert "costs [me | team T" in out
    assert "Costs: team data" in out and "BigQuery" in out
    assert "Resources of bob@example.com" in out and "raw-events" in out
    assert "I don't know `frobnicate`" in out
    assert out.count("Costs:") == 1  # nothing after `exit` ran


def test_the_shell_tells_someone_without_costs_so_in_one_sentence(
        db: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("digest\ncosts\n"))
    assert main(["shell", "--user", "dave@example.com"]) == 0
    out = capsys.readouterr().out
    assert "No costs for dave@example.com in the last 35 days: no digest to show." in out
    assert "No costs for dave@example.com in " in out.split("no digest to show.")[1]
    assert "none." not in out


def test_the_shell_survives_a_database_that_drops_a_command(
        db: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("costs team data 30d\ncosts team data 30d\n"))
    dropped: list[str] = []

    def drop_once(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SELECT") and "cost_scope_daily" in statement and not dropped:
            dropped.append(statement)
            raise OperationalError(statement, None, Exception("server closed the connection"))

    event.listen(SAEngine, "before_cursor_execute", drop_once)  # the shell makes its own engine
    try:
        assert main(["shell", "--user", "bob@example.com"]) == 0
    finally:
        event.remove(SAEngine, "before_cursor_execute", drop_once)
    out = capsys.readouterr().out
    assert dropped
    assert "the database is not answering" in out and "server closed the connection" in out
    assert out.count("Costs: team data") == 1  # the next command was answered


def test_detect_command_writes_the_alert_csv(env: Engine, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import date, timedelta

    source = tmp_path / "costs.csv"
    lines = ["date,series,cost"]
    start = date(2026, 6, 1)
    for i in range(60):
        day = start + timedelta(days=i)
        cost = 100.0 + (i % 3)  # steady
        if i == 50:
            cost = 400.0  # one spike
        lines.append(f"{day},web,{cost}")
        lines.append(f"{day},quiet,{5.0 + (i % 2) * 0.1}")
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "alerts.csv"
    assert main(["detect", "--input", str(source), "--output", str(out)]) == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["series", "date", "expected", "actual", "impact", "impact_pct",
                             "score"]
    assert [(r["series"], r["date"]) for r in rows] == [("web", str(start + timedelta(days=50)))]
    assert float(rows[0]["actual"]) == 400.0
    bad = tmp_path / "bad.csv"
    bad.write_text("date,series,cost\n2026-06-01,web,lots\n")
    assert main(["detect", "--input", str(bad), "--output", str(tmp_path / "x.csv")]) == 1
    err = capsys.readouterr().err
    assert "bad.csv" in err and "cost" in err and not (tmp_path / "x.csv").exists()
    # an output that cannot be written: no such folder, or a folder itself
    for target, reason in ((tmp_path / "no" / "such" / "x.csv", "No such file or directory"),
                           (tmp_path, "Is a directory")):
        assert main(["detect", "--input", str(source), "--output", str(target)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: {target}: cannot write there (") and reason in err, err
        assert err.count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left



@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_an_unusable_database_is_one_line_not_a_traceback(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = (f"postgresql+psycopg://postgres:s3cret@127.0.0.1:{free_port()}/test"
           if kind == "postgresql" else f"sqlite:///{tmp_path}/no/such/folder/finops.db")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("FINOPS_CONFIG", raising=False)
    assert main(["report", "--start", "2024-09-01", "--end", "2024-09-30"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == "", captured
    assert lines[0].startswith("error: the database (DATABASE_URL) cannot be used: ")
    assert ("refused" if kind == "postgresql" else "unable to open") in lines[0]
    assert "s3cret" not in lines[0]
