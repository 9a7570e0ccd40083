"""What the CLI commands do, kept apart from their option parsing in handlers/cli.py."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import date

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bot.chatops import Caller, answer, failure_text
from bot.envs_effects import run_effects
from bot.errors import ConfigError
from bot.pipeline import IngestReport
from bot.pipeline import ingest as ingest_source
from bot.services import Services
from providers.base import CostSource, build_source
from providers.chat import render_blocks
from storage import costs
from storage.db import DATABASE_DOWN, database_reason, session_scope


def _sources(services: Services, paths: Sequence[str], provider: str | None) -> list[CostSource]:
    from providers.focus import FocusFileSource

    sources: list[CostSource] = [FocusFileSource(p) for p in paths]
    if provider is not None:
        accounts = [a for a in services.config.accounts if a.provider == provider]
        if not accounts:
            configured = sorted({a.provider for a in services.config.accounts})
            raise ConfigError(f"no account with provider {provider!r} in the config "
                              f"(accounts' providers: {', '.join(configured) or 'none'})")
        sources += [build_source(a) for a in accounts]
    return sources


def ingest(services: Services, paths: Sequence[str], provider: str | None,
           start: date | None, end: date | None) -> list[IngestReport]:
    """Ingest each source in turn, with a progress bar on a terminal."""
    sources = _sources(services, paths, provider)
    reports: list[IngestReport] = []
    out = Console()
    with Progress(console=out, transient=True, disable=not out.is_terminal) as progress:
        task = progress.add_task("ingesting", total=len(sources))
        for source in sources:
            progress.update(task, description=f"ingesting {source.name}")
            report = ingest_source(services.engine, source, config=services.config,
                                   now=services.now(), start=start, end=end)
            reports.append(report)
            progress.advance(task)
    for r in reports:
        span = f"{r.period[0]}..{r.period[1]}" if r.period else "no rows"
        print(f"{r.source}: {r.lines_read} lines -> {r.rows_written} daily rows ({span}), "
              f"{r.rows_replaced} replaced, {r.rows_unchanged} unchanged, {r.resources} resources, "
              f"{r.owners_changed} owner changes")
    return reports


def report(services: Services, start: date, end: date, group_by: str, fmt: str,
           metric: str | None) -> None:
    """Print grouped totals as a table, CSV or JSON."""
    metric = metric or services.config.cost_metric
    with session_scope(services.engine) as session:
        rows = costs.totals(session, start=start, end=end, group_by=group_by, metric=metric)
        held = costs.date_range(session) if not rows else None
    if not rows:  # said on stderr, so CSV and JSON stay what a program reading them expects
        where = (f"the costs stored run from {held[0]} to {held[1]}" if held
                 else "no costs are stored yet: `finops-bot ingest` first")
        print(f"no costs from {start} to {end}; {where}", file=sys.stderr)
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([group_by, "currency", "cost"])
        writer.writerows([r.key, r.currency, f"{r.cost:.10f}"] for r in rows)
    elif fmt == "json":
        print(json.dumps([{group_by: r.key, "currency": r.currency, "cost": round(r.cost, 10)}
                          for r in rows], indent=2))
    else:
        table = Table(title=f"{metric} {start} .. {end} by {group_by}")
        table.add_column(group_by)
        table.add_column("currency")
        table.add_column("cost", justify="right")
        for r in rows:
            table.add_row(r.key, r.currency, f"{r.cost:,.2f}")
        sums: dict[str, float] = {}
        for r in rows:
            sums[r.currency] = sums.get(r.currency, 0.0) + r.cost
        for currency, total in sorted(sums.items()):
            table.add_row("[b]total[/b]", currency, f"[b]{total:,.2f}[/b]")
        Console().print(table)


def shell(services: Services, email: str) -> None:
    """Read commands from stdin until EOF; ``exit`` or ``quit`` ends too."""
    command = services.config.command
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"finops-bot shell as {email}. Type `help`, or `exit` to leave.")
    caller = Caller(email=email, origin="shell", tickets=services.jira)
    while True:
        try:
            line = input(f"{command} " if interactive else "")
        except EOFError:
            break
        text = line.strip().removeprefix(command).strip()
        if text in ("exit", "quit"):
            break
        if not line.strip():
            continue
        try:
            with session_scope(services.engine) as session:
                reply = answer(session, config=services.config, caller=caller, text=text,
                               now=services.now())
        except DATABASE_DOWN as exc:  # the next line may work again; the reason is shown here
            print(f"[only you] {failure_text(exc)} ({database_reason(exc)})\n")
            continue
        visibility = "only you" if reply.ephemeral else "channel"
        print(f"[{visibility}] {render_blocks(reply.blocks) or reply.text}\n")
        run_effects(services)  # what a booking change sends (channel, hooks, Jira), as in Slack
