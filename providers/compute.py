"""Actions on running resources (stop, start, destroy) and the live read done right before them.

One implementation per cloud (providers/compute_aws.py, compute_azure.py, compute_gcp.py), each
behind :class:`ComputeActions`; :class:`Fleet` routes a resource id to the one that handles it.
The lifecycle sweeper never acts on what the database says: it calls :meth:`describe` first and
compares. Errors are the bot's own: ``ProviderThrottled`` (retry later), ``ProviderAuthError``,
``ProviderError``; a resource that no longer exists is ``describe() -> None``, not an error.
Acting on one that no longer exists: destroy is a no-op, stop and start raise ``ResourceGone``.

:func:`fleet_from_config` builds the fleet of the configured aws, azure and gcp accounts; the
cloud SDKs are imported only for the clouds configured.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from bot import metrics
from bot.errors import ProviderError

if TYPE_CHECKING:
    from bot.config import Config

Action = Literal["stop", "start", "destroy"]


@dataclass(frozen=True, slots=True)
class LiveResource:
    """A resource as its provider reports it now."""

    resource_id: str
    kind: str  # "instance", "volume", "vm"
    state: str  # normalised: running, stopped, stopping, pending, terminated, deleting, other
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def gone(self) -> bool:
        return self.state in ("terminated", "deleting", "deleted")


@runtime_checkable
class ComputeActions(Protocol):
    """Stop / start / destroy for one cloud. Calls block until the provider accepted the
    request (not until the machine is down); they are safe to repeat."""

    provider: str

    def handles(self, resource_id: str) -> bool:
        """True if ``resource_id`` is this cloud's and a kind it can act on."""
        ...

    def describe(self, resource_id: str) -> LiveResource | None:
        """The resource now, or None if it does not exist (any more)."""
        ...

    def act(self, resource_id: str, action: Action) -> None:
        """Stop, start or destroy (EC2 terminate, EBS delete, VM delete...)."""
        ...


class Metered(ABC):
    """``describe`` and ``act`` counted and timed in the provider-call metrics; a cloud's
    class implements ``_describe`` and ``_act``."""

    provider: str

    def describe(self, resource_id: str) -> LiveResource | None:
        with metrics.provider_call(self.provider, "describe"):
            return self._describe(resource_id)

    def act(self, resource_id: str, action: Action) -> None:
        with metrics.provider_call(self.provider, action):
            self._act(resource_id, action)

    @abstractmethod
    def _describe(self, resource_id: str) -> LiveResource | None: ...

    @abstractmethod
    def _act(self, resource_id: str, action: Action) -> None: ...


class Fleet:
    """Every configured :class:`ComputeActions`, found by the resource id they handle."""

    def __init__(self, members: Iterable[ComputeActions] = ()) -> None:
        self._members = list(members)

    def __bool__(self) -> bool:
        return bool(self._members)

    @property
    def members(self) -> list[ComputeActions]:
        return list(self._members)

    def for_resource(self, resource_id: str) -> ComputeActions | None:
        return next((m for m in self._members if m.handles(resource_id)), None)

    def close(self) -> None:
        """Close the HTTP connections of every member that holds some."""
        for member in self._members:
            close = getattr(member, "close", None)
            if close is not None:
                close()


# provider name -> "module:factory"; each factory takes one account config (plus options) and
# returns its ComputeActions. Import paths, so only the configured clouds' SDKs are imported.
COMPUTE: dict[str, str] = {
    "aws": "providers.compute_aws:from_account",
    "azure": "providers.compute_azure:from_account",
    "gcp": "providers.compute_gcp:from_account",
}


class AccountGroup:
    """Several configured accounts of one cloud acting as one: a resource belongs to the first
    account that sees it (an ``i-...`` or a GCE path names no configured account)."""

    def __init__(self, members: Sequence[ComputeActions]) -> None:
        if not members:
            raise ValueError("an account group needs at least one member")
        self.provider = members[0].provider
        self._members = list(members)
        self._owners: dict[str, ComputeActions] = {}

    def handles(self, resource_id: str) -> bool:
        return any(m.handles(resource_id) for m in self._members)

    def describe(self, resource_id: str) -> LiveResource | None:
        for member in self._members:
            if member.handles(resource_id):
                live = member.describe(resource_id)
                if live is not None:
                    self._owners[resource_id] = member
                    return live
        return None

    def act(self, resource_id: str, action: Action) -> None:
        if resource_id not in self._owners:
            self.describe(resource_id)
        owner = self._owners.get(resource_id)
        if owner is None:  # nobody sees it: the first account that handles it says "gone"
            owner = next((m for m in self._members if m.handles(resource_id)), None)
        if owner is None:
            raise ProviderError(f"no {self.provider} account handles {resource_id!r}")
        owner.act(resource_id, action)

    def close(self) -> None:
        Fleet(self._members).close()


def fleet_from_config(config: Config, **options: Mapping[str, Any]) -> Fleet:
    """One member per cloud with configured accounts (aws, azure, gcp; others have no actions).

    ``options`` are keyword arguments per provider name for its factory, e.g.
    ``fleet_from_config(config, azure={"credential": credential})``.
    """
    by_provider: dict[str, list[ComputeActions]] = {}
    for account in config.accounts:
        target = COMPUTE.get(account.provider)
        if target is None:
            continue
        module_name, _, attr = target.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        member: ComputeActions = factory(account, **options.get(account.provider, {}))
        by_provider.setdefault(account.provider, []).append(member)
    return Fleet(
        group[0] if len(group) == 1 else AccountGroup(group) for group in by_provider.values()
    )
