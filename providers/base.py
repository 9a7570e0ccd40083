"""The small Protocols every provider implements, and the registry that finds them by name.

Heavy SDKs are imported lazily: the registry holds import paths, so a FOCUS-only install never
imports google or azure.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable

from bot.errors import ConfigError
from bot.records import DailyCost, InventoryItem


@dataclass(frozen=True, slots=True)
class CostBatch:
    """What one read of a cost source produced: daily rows plus where they came from."""

    source: str
    rows: Sequence[DailyCost]
    lines_read: int = 0
    inventory: Sequence[InventoryItem] = field(default_factory=tuple)
    # A source that can digest its days cheaply gives one per (provider, billing account, day)
    # of its rows, over exactly those rows; storage digests the days without one itself
    # (storage.costs.replace_costs).
    day_digests: Mapping[tuple[str, str, date], str] = field(default_factory=dict)


@runtime_checkable
class CostSource(Protocol):
    """Yields daily cost rows (one per resource per UTC day per currency) for a period."""

    name: str

    def fetch(self, start: date | None = None, end: date | None = None) -> CostBatch:
        """Read costs whose day is in [start, end] (None: everything the source has)."""
        ...


@runtime_checkable
class Inventory(Protocol):
    """Lists resources with their tags, state and creation time."""

    name: str

    def inventory(self) -> Iterable[InventoryItem]:
        """Every resource the provider knows of in the configured scope."""
        ...


# provider name -> "module:factory"; each factory takes the account config and returns an object
# implementing CostSource (and Inventory where the provider has one).
SOURCES: dict[str, str] = {
    "focus": "providers.focus:from_account",
    "aws": "providers.aws:from_account",
    "gcp": "providers.gcp:from_account",
    "azure": "providers.azure:from_account",
    "demo": "providers.demo:from_account",
}


def load_factory(provider: str) -> Any:
    """Import the factory registered for ``provider``."""
    try:
        target = SOURCES[provider]
    except KeyError as exc:
        raise ConfigError(f"unknown provider {provider!r}; known: {', '.join(SOURCES)}") from exc
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def build_source(account: Any) -> CostSource:
    """The cost source for one configured account."""
    source: CostSource = load_factory(account.provider)(account)
    return source
