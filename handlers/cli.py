"""``finops-bot``: run the bot, upgrade the database, ingest, report, run jobs, open a shell."""

from __future__ import annotations

import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.errors import FinopsError
from storage.db import DATABASE_DOWN, database_reason

cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="finops-bot: cloud costs owned by the engineers who spend them.",
)
db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")
jobs_cli = typer.Typer(no_args_is_help=True, help="Scheduled jobs.")
cli.add_typer(db_cli, name="db")
cli.add_typer(jobs_cli, name="jobs")
err = Console(stderr=True)


class GroupBy(StrEnum):
    owner = "owner"
    team = "team"
    service = "service"
    account = "account"
    resource = "resource"
    day = "day"
    provider = "provider"


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class Metric(StrEnum):
    EffectiveCost = "EffectiveCost"
    BilledCost = "BilledCost"
    ListCost = "ListCost"


@cli.command()
def run(
    host: Annotated[str | None, typer.Option(help="Overrides HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides PORT.")] = None,
) -> None:
    """Serve HTTP and run the scheduler (embedded demo defaults when nothing is configured)."""
    import app

    # closed afterwards, also when the start fails: no pooled connection is left to the collector
    with app.cli_services(ready=False) as services:  # serve checks the schema and loads the demo
        app.serve(services, host=host, port=port)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (`run` does this by itself on SQLite)."""
    import app
    from storage.db import upgrade

    with app.cli_services(ready=False) as services:
        upgrade(services.engine)
    typer.echo("database is up to date")


@cli.command()
def ingest(
    paths: Annotated[
        list[str] | None, typer.Argument(help="FOCUS files, folders or s3:// prefixes.")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Ingest the configured accounts of this provider.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD), inclusive.")] = None,
) -> None:
    """Ingest cost data; re-ingesting a period replaces it."""
    import app
    from handlers import cli_ops

    if not paths and provider is None:
        raise typer.BadParameter("give PATH... or --provider NAME")
    first, last = _period(start, end)
    with app.cli_services() as services:
        cli_ops.ingest(services, paths or [], provider, first, last)


@cli.command()
def report(
    start: Annotated[str, typer.Option(help="First day (YYYY-MM-DD), inclusive.")],
    end: Annotated[str, typer.Option(help="Last day (YYYY-MM-DD), inclusive.")],
    group_by: Annotated[GroupBy, typer.Option("--group-by")] = GroupBy.service,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    metric: Annotated[
        Metric | None, typer.Option(help="The cost column; default: cost_metric in the config.")
    ] = None,
) -> None:
    """Costs per group for a period, per currency (CSV: header with a `cost` column)."""
    import app
    from handlers import cli_ops

    first, last = _period(start, end)
    assert first is not None and last is not None
    # stdout is the report: what the demo's first load would send to Slack goes to stderr
    with app.cli_services(console=sys.stderr) as services:
        cli_ops.report(
            services, first, last, group_by.value, fmt.value, metric and metric.value
        )


@cli.command()
def detect(
    input_path: Annotated[Path, typer.Option("--input", help="CSV with columns date,series,cost.")],
    output_path: Annotated[Path, typer.Option("--output", help="Alerts CSV to write.")],
) -> None:
    """Run the anomaly detector on a long-format file (the scheduled scan's code path)."""
    import app
    from bot.config import load_config
    from handlers import detect as detect_csv

    gates = load_config(app.config_path()).anomaly
    count = detect_csv.run(input_path, output_path, gates)
    typer.echo(f"{count} alerts written to {output_path}")


@jobs_cli.command("list")
def jobs_list() -> None:
    """The jobs and their schedules."""
    import app
    from bot.jobs import JOBS

    with app.cli_services(ready=False) as services:
        rows = []
        for job in JOBS.values():
            schedule = job.schedule(services)
            when = f"{schedule.cron} ({schedule.timezone})" if schedule else "on demand"
            rows.append((job.name, when, job.description))
    names, whens = (max(len(row[i]) for row in rows) for i in (0, 1))
    for name, when, description in rows:
        typer.echo(f"{name:<{names}}  {when:<{whens}}  {description}")


@jobs_cli.command("run")
def jobs_run(name: str) -> None:
    """Run one job once, now."""
    import app
    from bot.jobs import run_job

    with app.cli_services() as services:
        typer.echo(run_job(services, name))


@cli.command()
def shell(user: Annotated[str, typer.Option(help="Act as this user (email).")]) -> None:
    """Type `/finops` commands as USER; answers print as Slack would show them."""
    import app
    from bot.config import normalised_email
    from handlers import cli_ops

    try:
        email = normalised_email(user)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--user") from None
    with app.cli_services() as services:
        cli_ops.shell(services, email)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from exc


def _period(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    first, last = _day(start, "--start"), _day(end, "--end")
    if first is not None and last is not None and last < first:
        raise typer.BadParameter(f"{last} is before --start {first}", param_hint="--end")
    return first, last


def main(argv: list[str] | None = None) -> int:
    """Entry point: FinopsError becomes one line on stderr and exit code 1, no traceback.

    The command line is parsed in Typer's standalone mode: a usage error (an unknown command, a
    missing option, a bad value) is shown as usage plus one error line, with exit code 2, by
    Typer itself. (Typer 0.26 and later ship their own copy of Click, so Click's exception
    classes would not catch them.)
    """
    try:
        cli(args=argv, prog_name="finops-bot", standalone_mode=True)
    except SystemExit as exc:  # standalone mode always ends here: success, usage error, Exit
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except FinopsError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except DATABASE_DOWN as exc:  # down, unreachable, refusing us: what the driver said
        err.print(f"error: the database (DATABASE_URL) cannot be used: {database_reason(exc)}",
                  markup=False, highlight=False, soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
