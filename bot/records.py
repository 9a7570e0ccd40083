"""Plain records that cross layer boundaries: cost rows, resources, owner assignments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

# The FOCUS metrics a cost row carries; the config chooses which one reports use.
COST_METRICS = ("EffectiveCost", "BilledCost", "ListCost")


@dataclass(slots=True)
class DailyCost:
    """One resource's cost on one UTC day, in one currency, with FOCUS dimensions.

    Read-only by convention, not frozen: an ingest builds one per resource and day (millions
    for a large account), and a frozen dataclass takes about eight times as long to build.
    """

    day: date
    resource_id: str
    provider: str
    billing_account_id: str
    sub_account_id: str
    service: str
    currency: str
    billed_cost: float
    effective_cost: float
    list_cost: float
    sub_account_name: str = ""
    region: str = ""
    resource_name: str = ""
    resource_type: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InventoryItem:
    """A resource as a provider's inventory reports it (tags, state, creation time)."""

    resource_id: str
    provider: str
    account_id: str
    region: str = ""
    service: str = ""
    resource_type: str = ""
    name: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    state: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    """What owner rules look at: a resource's identity, placement and tags."""

    resource_id: str
    provider: str = ""
    account_id: str = ""
    region: str = ""
    service: str = ""
    resource_type: str = ""
    name: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Assignment:
    """The owner and team a resource resolves to, and why (``source``)."""

    owner: str | None
    team: str | None
    source: str  # "manual", "tag:<key>", "rule:<name>", "team-default", "unowned"
