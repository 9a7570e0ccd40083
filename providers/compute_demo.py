"""Compute actions on the bundled demo estate: an in-memory cloud that remembers stops and
destroys for as long as the process runs (the demo runs in dry run, so usually nothing moves)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from bot.demo import estate
from providers.compute import Action, LiveResource

_AFTER = {"stop": "stopped", "start": "running", "destroy": "terminated"}


class DemoCompute:
    """Every demo resource, running, with the tags the demo gives it."""

    provider = "demo"

    def __init__(self) -> None:
        today = datetime.now(UTC).date()
        self._lock = threading.Lock()
        self._live = {
            r.resource_id: LiveResource(r.resource_id, r.resource_type.lower(), "running",
                                        dict(r.tags))
            for r in estate(today)
        }

    def handles(self, resource_id: str) -> bool:
        return resource_id in self._live

    def describe(self, resource_id: str) -> LiveResource | None:
        with self._lock:
            found = self._live.get(resource_id)
        return None if found is None or found.gone else found

    def act(self, resource_id: str, action: Action) -> None:
        with self._lock:
            found = self._live[resource_id]
            self._live[resource_id] = LiveResource(resource_id, found.kind, _AFTER[action],
                                                   found.tags)
