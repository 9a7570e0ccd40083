"""A fake of the Compute Engine REST API (v1): instances and their zonal operations.

    GET    /compute/v1/projects/{p}/zones/{z}/instances/{i}          instances.get
    POST   /compute/v1/projects/{p}/zones/{z}/instances/{i}/stop     -> Operation
    POST   /compute/v1/projects/{p}/zones/{z}/instances/{i}/start    -> Operation
    DELETE /compute/v1/projects/{p}/zones/{z}/instances/{i}          -> Operation
    GET    /compute/v1/projects/{p}/zones/{z}/operations/{op}        zoneOperations.get
    POST   /compute/v1/projects/{p}/zones/{z}/operations/{op}/wait   zoneOperations.wait

``{i}`` is the instance's name or its numeric id, as the service accepts. An action answers a
zonal ``compute#operation`` in status RUNNING and moves the instance to STOPPING / STAGING; the
operation is DONE after ``steps`` ``get`` polls, or at once on ``wait`` (which the service holds
until DONE, up to two minutes), and the instance then lands in TERMINATED (GCE's word for a
stopped VM), RUNNING, or is gone. Stopping a stopped instance, or starting a running one, gives
an operation that changes nothing.

As the service does: a bearer token is required (401), errors use Compute's JSON error shape
(``error.code/message/errors[].reason``, plus ``status`` on quota errors), a missing instance or
operation is 404 ``notFound``.

Test controls: :meth:`FakeComputeEngine.throttle` (429 ``rateLimitExceeded``, N times or for
ever), ``hold_operations`` (operations stay RUNNING, ``wait`` returns them unfinished),
``fail_operations`` (operations end DONE with an error), and the recorded ``calls``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.gcp_billing import errors_reply
from tests.fakes.http import Call, FakeServer, Reply, json_reply

API = "https://www.googleapis.com/compute/v1"
_ZONE = r"^/compute/v1/projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)"
_INSTANCE = re.compile(_ZONE + r"/instances/(?P<instance>[^/]+)(?:/(?P<action>stop|start))?$")
_OPERATION = re.compile(_ZONE + r"/operations/(?P<operation>[^/]+)(?P<wait>/wait)?$")
# action -> (status while the operation runs, status when it is done; None: deleted)
TRANSITIONS: dict[str, tuple[str, str | None]] = {
    "stop": ("STOPPING", "TERMINATED"),
    "start": ("STAGING", "RUNNING"),
    "delete": ("STOPPING", None),
}
_ids = itertools.count(4711)


def compute_error(
    status: int, message: str, reason: str, *, domain: str = "global", with_status: bool = False
) -> Reply:
    """Compute Engine's JSON error: ``errors[].reason`` (quota errors also carry ``status``)."""
    return errors_reply(status, message, reason, domain=domain, with_status=with_status)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class FakeInstance:
    """An instance held by the fake."""

    project: str
    zone: str
    name: str
    status: str = "RUNNING"
    labels: dict[str, str] = field(default_factory=dict)
    instance_id: str = field(default_factory=lambda: str(next(_ids)))

    @property
    def self_link(self) -> str:
        return f"{API}/projects/{self.project}/zones/{self.zone}/instances/{self.name}"


@dataclass
class _Operation:
    name: str
    instance: FakeInstance
    action: str
    polls_left: int
    inserted: str
    status: str = "RUNNING"
    ended: str | None = None
    failed: bool = False


class FakeComputeEngine(FakeServer):
    """Compute Engine's instance endpoints over in-memory instances."""

    def __init__(
        self,
        instances: Iterable[FakeInstance] = (),
        *,
        tokens: Iterable[str] = ("test-token",),
        steps: int = 1,
    ) -> None:
        super().__init__()
        self.instances = {(i.project, i.zone, i.name): i for i in instances}
        self.tokens = set(tokens)
        self.steps = steps  # get polls answered RUNNING before an operation is DONE
        self.hold_operations = False
        self.fail_operations = False
        self.operations: dict[tuple[str, str, str], _Operation] = {}
        self._state = threading.Lock()

    # --- test controls -------------------------------------------------------------------

    def add(self, instance: FakeInstance) -> FakeInstance:
        with self._state:
            self.instances[(instance.project, instance.zone, instance.name)] = instance
        return instance

    def instance(self, project: str, zone: str, name: str) -> FakeInstance | None:
        with self._state:
            return self.instances.get((project, zone, name))

    def throttle(self, times: int | None = 1) -> None:
        """Answer the next ``times`` calls (None: every call) with Compute's 429."""
        self.fail_next(
            compute_error(
                429,
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of "
                "service 'compute.googleapis.com'.",
                "rateLimitExceeded",
                domain="usageLimits",
                with_status=True,
            ),
            times=times,
        )

    def action_calls(self) -> list[Call]:
        """The stop / start / delete calls received."""
        return [
            c for c in self.calls if c.method in ("POST", "DELETE") and _INSTANCE.match(c.path)
        ]

    # --- the service ---------------------------------------------------------------------

    def not_found_body(self, call: Call) -> Any:
        message = f"The requested URL {call.path} was not found on this server."
        return compute_error(404, message, "notFound").body

    def handle(self, call: Call) -> Reply:
        if call.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return compute_error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
                "required",
                with_status=True,
            )
        instance = _INSTANCE.match(call.path)
        if instance is not None:
            with self._state:
                return self._instance_call(call, instance)
        operation = _OPERATION.match(call.path)
        if operation is not None:
            with self._state:
                return self._operation_call(call, operation)
        return self.not_found(call)

    def _find(self, project: str, zone: str, ref: str) -> FakeInstance | None:
        found = self.instances.get((project, zone, ref))
        if found is None and ref.isdigit():
            found = next(
                (
                    i
                    for i in self.instances.values()
                    if (i.project, i.zone, i.instance_id) == (project, zone, ref)
                ),
                None,
            )
        return found

    def _instance_call(self, call: Call, match: re.Match[str]) -> Reply:
        project, zone, ref, action = match.group("project", "zone", "instance", "action")
        found = self._find(project, zone, ref)
        if found is None:
            path = f"projects/{project}/zones/{zone}/instances/{ref}"
            return compute_error(404, f"The resource '{path}' was not found", "notFound")
        if call.method == "GET" and action is None:
            return json_reply(_instance_body(found))
        if call.method == "POST" and action is not None:
            return self._start(found, action)
        if call.method == "DELETE" and action is None:
            return self._start(found, "delete")
        return self.not_found(call)

    def _start(self, instance: FakeInstance, action: str) -> Reply:
        running, done = TRANSITIONS[action]
        if instance.status != done or action == "delete":
            instance.status = running
        name = f"operation-{next(_ids)}-{action}"
        operation = _Operation(name, instance, action, self.steps, _now())
        self.operations[(instance.project, instance.zone, name)] = operation
        return json_reply(self._operation_body(operation))

    def _operation_call(self, call: Call, match: re.Match[str]) -> Reply:
        key = (match["project"], match["zone"], match["operation"])
        operation = self.operations.get(key)
        if operation is None:
            message = (
                f"The resource 'projects/{key[0]}/zones/{key[1]}/operations/{key[2]}' "
                "was not found"
            )
            return compute_error(404, message, "notFound")
        waiting = match["wait"] is not None
        if (call.method, waiting) not in (("GET", False), ("POST", True)):
            return self.not_found(call)
        if operation.status != "DONE" and not self.hold_operations:
            if waiting or operation.polls_left == 0:
                self._finish(operation)
            else:
                operation.polls_left -= 1
        return json_reply(self._operation_body(operation))

    def _finish(self, operation: _Operation) -> None:
        operation.status, operation.ended = "DONE", _now()
        instance = operation.instance
        if self.fail_operations:
            operation.failed = True
            instance.status = "RUNNING" if operation.action != "start" else "TERMINATED"
            return
        done = TRANSITIONS[operation.action][1]
        if done is None:
            self.instances.pop((instance.project, instance.zone, instance.name), None)
        else:
            instance.status = done

    def _operation_body(self, operation: _Operation) -> dict[str, Any]:
        instance = operation.instance
        zone_url = f"{API}/projects/{instance.project}/zones/{instance.zone}"
        body: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(abs(hash(operation.name))),
            "name": operation.name,
            "zone": zone_url,
            "operationType": operation.action,
            "targetLink": instance.self_link,
            "targetId": instance.instance_id,
            "status": operation.status,
            "user": "finops-bot@proj.iam.gserviceaccount.com",
            "progress": 100 if operation.status == "DONE" else 0,
            "insertTime": operation.inserted,
            "startTime": operation.inserted,
            "selfLink": f"{zone_url}/operations/{operation.name}",
        }
        if operation.ended:
            body["endTime"] = operation.ended
        if operation.failed:
            body["httpErrorStatusCode"] = 400
            body["httpErrorMessage"] = "BAD REQUEST"
            body["error"] = {
                "errors": [
                    {
                        "code": "ZONE_RESOURCE_POOL_EXHAUSTED",
                        "message": f"The zone '{zone_url}' does not have enough resources "
                        "available to fulfill the request.",
                    }
                ]
            }
        return body


def _instance_body(instance: FakeInstance) -> dict[str, Any]:
    return {
        "kind": "compute#instance",
        "id": instance.instance_id,
        "creationTimestamp": "2024-05-01T01:00:00.000-07:00",
        "name": instance.name,
        "machineType": f"{API}/projects/{instance.project}/zones/{instance.zone}/"
        "machineTypes/e2-standard-2",
        "status": instance.status,
        "zone": f"{API}/projects/{instance.project}/zones/{instance.zone}",
        "labels": instance.labels,
        "selfLink": instance.self_link,
    }
