"""The demo cost source: generated multi-cloud costs ending yesterday (see bot/demo.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from bot.config import DemoAccount
from bot.demo import generate
from providers.base import CostBatch


def _utc_today() -> date:
    return datetime.now(UTC).date()


class DemoSource:
    """Implements CostSource over the generated demo estate."""

    def __init__(self, account: DemoAccount, *, today: Callable[[], date] = _utc_today) -> None:
        self.name = account.name
        self._account = account
        self._today = today

    def fetch(self, start: date | None = None, end: date | None = None) -> CostBatch:
        rows = [
            r for r in generate(self._today(), days=self._account.days, seed=self._account.seed)
            if (start is None or r.day >= start) and (end is None or r.day <= end)
        ]
        return CostBatch(source=f"demo:{self.name}", rows=rows, lines_read=len(rows))


def from_account(account: DemoAccount) -> DemoSource:
    return DemoSource(account)
