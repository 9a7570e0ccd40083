"""A fake of ARM's Compute virtual machine API, with real long-running operations.

    GET    /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{n}
           [?$expand=instanceView]                                  virtualMachines.get
    POST   .../virtualMachines/{n}/deallocate | start | powerOff     202 + operation
    DELETE .../virtualMachines/{n}                                   202 + operation (204: absent)
    GET    /subscriptions/{s}/providers/Microsoft.Compute/locations/{l}/operations/{id}
           (the Azure-AsyncOperation URL: {status: InProgress | Succeeded | Failed})
    GET    .../operations/{id}?monitor=true (the Location URL: 202 until done, then 200)

As ARM does: paths, names and groups match without regard to case; ``api-version`` is required
(400); a bearer token is required (401 ``AuthenticationFailed`` / ``InvalidAuthenticationToken``);
a missing VM is 404 ``ResourceNotFound`` and a missing group 404 ``ResourceGroupNotFound`` in ARM's
``{"error": {"code", "message"}}`` shape, except DELETE of a missing VM in an existing group,
which ARM answers 204. An action answers 202 with ``Azure-AsyncOperation``, ``Location`` and
``Retry-After`` headers; the VM shows the transition (``PowerState/deallocating``,
``ProvisioningState/updating``) until the operation has been polled ``steps`` times, then lands
in its final state. Acting on a VM being deleted is 409 ``OperationNotAllowed``.

Clients: :class:`NoToken` and :class:`RecordingTransport` (waits recorded, not slept).

Test controls: :meth:`FakeArmCompute.throttle` (429 with ``Retry-After``, N times or for ever),
``fail_operations`` (operations end ``Failed``), :meth:`FakeArmCompute.settle` (finish every
operation as if time passed), and the recorded ``calls``.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

from tests.fakes.azure_cost import arm_error
from tests.fakes.http import Call, FakeServer, Reply, json_reply

PROVIDER = "Microsoft.Compute/virtualMachines"
# action -> (transitional power state, final power state); None: the VM is removed
ACTIONS: dict[str, tuple[str, str | None]] = {
    "deallocate": ("deallocating", "deallocated"),
    "start": ("starting", "running"),
    "powerOff": ("stopping", "stopped"),
    "delete": ("stopping", None),
}
_VM = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/"
    r"Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)(?:/(?P<action>[^/]+))?$",
    re.IGNORECASE,
)
_OPERATION = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/locations/(?P<location>[^/]+)"
    r"/operations/(?P<id>[^/]+)$",
    re.IGNORECASE,
)
_DISPLAY = {
    "running": "VM running",
    "deallocated": "VM deallocated",
    "deallocating": "VM deallocating",
    "stopped": "VM stopped",
    "stopping": "VM stopping",
    "starting": "VM starting",
}


@dataclass
class FakeVm:
    """A virtual machine held by the fake."""

    subscription: str
    group: str
    name: str
    power: str = "running"
    provisioning: str = "succeeded"
    location: str = "westeurope"
    tags: dict[str, str] = field(default_factory=dict)
    vm_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subscription.lower(), self.group.lower(), self.name.lower())

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.group}/providers/"
            f"{PROVIDER}/{self.name}"
        )


@dataclass
class _Operation:
    op_id: str
    vm: FakeVm
    action: str
    polls_left: int
    started: str
    status: str = "InProgress"
    ended: str | None = None


class NoToken:
    """A credential that must never be asked: tests authenticate with a header policy
    (azure-core refuses bearer tokens over plain http)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise AssertionError("bearer tokens are not used over plain http in these tests")


class RecordingTransport(RequestsTransport):
    """The real requests transport, except that waits (retries, LRO polling) are recorded in
    ``slept`` instead of slept."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.slept: list[float] = []

    def sleep(self, duration: float) -> None:
        self.slept.append(duration)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


class FakeArmCompute(FakeServer):
    """ARM's virtual machine endpoints over in-memory VMs."""

    def __init__(
        self,
        vms: Iterable[FakeVm] = (),
        *,
        tokens: Iterable[str] = ("test",),
        steps: int = 1,
        lro_retry_after: int = 10,
    ) -> None:
        super().__init__()
        self.vms = {vm.key: vm for vm in vms}
        self.groups = {(vm.subscription.lower(), vm.group.lower()) for vm in self.vms.values()}
        self.tokens = set(tokens)
        self.steps = steps  # polls answered InProgress before an operation ends
        self.lro_retry_after = lro_retry_after
        self.fail_operations = False
        self.operations: dict[str, _Operation] = {}
        self._state = threading.Lock()

    # --- test controls -------------------------------------------------------------------

    def add(self, vm: FakeVm) -> FakeVm:
        with self._state:
            self.vms[vm.key] = vm
            self.groups.add((vm.subscription.lower(), vm.group.lower()))
        return vm

    def vm(self, subscription: str, group: str, name: str) -> FakeVm | None:
        with self._state:
            return self.vms.get((subscription.lower(), group.lower(), name.lower()))

    def throttle(self, times: int | None = 1, retry_after: int = 0) -> None:
        """Answer the next ``times`` calls (None: every call) with ARM's 429."""
        self.fail_next(
            arm_error(
                429,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation "
                "type - Read_30Min. For more information, see - https://aka.ms/AzureRMThrottling",
                {"Retry-After": str(retry_after)},
            ),
            times=times,
        )

    def settle(self) -> None:
        """Finish every running operation, as the platform would given time."""
        with self._state:
            for operation in self.operations.values():
                if operation.status == "InProgress":
                    self._finish(operation)

    def action_calls(self) -> list[Call]:
        """The POSTs and DELETEs made to virtual machines."""
        return [c for c in self.calls if c.method in ("POST", "DELETE") and _VM.match(c.path)]

    # --- the service ---------------------------------------------------------------------

    def not_found_body(self, call: Call) -> Any:
        return {
            "error": {
                "code": "InvalidResourceType",
                "message": f"The resource type could not be found for {call.path}",
            }
        }

    def handle(self, call: Call) -> Reply:
        refused = self._refused(call)
        if refused is not None:
            return refused
        vm_match = _VM.match(call.path)
        if vm_match is not None:
            with self._state:
                return self._vm_call(call, vm_match)
        op_match = _OPERATION.match(call.path)
        if op_match is not None and call.method == "GET":
            with self._state:
                return self._operation_call(call, op_match["id"])
        return self.not_found(call)

    def _refused(self, call: Call) -> Reply | None:
        auth = call.headers.get("authorization")
        challenge = {"WWW-Authenticate": 'Bearer authorization_uri="https://login.example"'}
        if auth is None:
            return arm_error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                challenge,
            )
        if auth.removeprefix("Bearer ") not in self.tokens:
            return arm_error(
                401, "InvalidAuthenticationToken", "The access token is invalid.", challenge
            )
        if not call.param("api-version"):
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        return None

    def _vm_call(self, call: Call, match: re.Match[str]) -> Reply:
        sub, group, name, action = match["sub"], match["group"], match["name"], match["action"]
        if (sub.lower(), group.lower()) not in self.groups:
            return arm_error(
                404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found."
            )
        vm = self.vms.get((sub.lower(), group.lower(), name.lower()))
        if call.method == "DELETE" and action is None:
            return self._start(call, vm, "delete") if vm else Reply(204)
        if vm is None:
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource '{PROVIDER}/{name}' under resource group '{group}' was not "
                "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        if call.method == "GET" and action is None:
            expand = (call.param("$expand") or "").lower()
            return json_reply(_vm_body(vm, instance_view=expand == "instanceview"))
        if call.method == "POST" and action is not None:
            known = next((a for a in ACTIONS if a.lower() == action.lower()), None)
            if known is not None and known != "delete":
                return self._start(call, vm, known)
        return self.not_found(call)

    def _start(self, call: Call, vm: FakeVm, action: str) -> Reply:
        if vm.provisioning == "deleting":
            return arm_error(
                409,
                "OperationNotAllowed",
                f"Operation '{action}' is not allowed on VM '{vm.name}' since the VM is marked "
                "for deletion.",
            )
        transitional, final = ACTIONS[action]
        if final != vm.power or action == "delete":
            vm.power = transitional
        vm.provisioning = "deleting" if action == "delete" else "updating"
        op_id = str(uuid.uuid4())
        self.operations[op_id] = _Operation(op_id, vm, action, self.steps, _now())
        api = call.param("api-version")
        status_url = (
            f"{self.url}/subscriptions/{vm.subscription}/providers/Microsoft.Compute/locations/"
            f"{vm.location}/operations/{op_id}?p={uuid.uuid4()}&api-version={api}"
        )
        headers = {
            "Azure-AsyncOperation": status_url,
            "Location": status_url + "&monitor=true",
            "Retry-After": str(self.lro_retry_after),
        }
        return Reply(202, b"", headers)

    def _operation_call(self, call: Call, op_id: str) -> Reply:
        operation = self.operations.get(op_id)
        if operation is None:
            return arm_error(404, "NotFound", f"The operation '{op_id}' was not found.")
        if call.param("monitor") == "true":
            if operation.status == "InProgress":
                location = f"{self.url}{call.path}?{urlencode(call.query, doseq=True)}"
                return Reply(202, b"", {"Location": location, "Retry-After": "10"})
            return Reply(200, b"")
        if operation.status == "InProgress":
            if operation.polls_left > 0:
                operation.polls_left -= 1
            else:
                self._finish(operation)
        body: dict[str, Any] = {
            "startTime": operation.started,
            "status": operation.status,
            "name": operation.op_id,
        }
        if operation.ended:
            body["endTime"] = operation.ended
        if operation.status == "Failed":
            body["error"] = {
                "code": "AllocationFailed",
                "message": "Allocation failed. We do not have sufficient capacity for the "
                "requested VM size in this region.",
            }
        wait = {"Retry-After": str(self.lro_retry_after)}
        return json_reply(body, headers=wait if operation.status == "InProgress" else {})

    def _finish(self, operation: _Operation) -> None:
        vm = operation.vm
        operation.ended = _now()
        if self.fail_operations:
            operation.status = "Failed"
            vm.provisioning = "failed"
            return
        operation.status = "Succeeded"
        final = ACTIONS[operation.action][1]
        if final is None:
            self.vms.pop(vm.key, None)
            return
        vm.power, vm.provisioning = final, "succeeded"


def _vm_body(vm: FakeVm, *, instance_view: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "vmId": vm.vm_id,
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "provisioningState": vm.provisioning.capitalize(),
        "timeCreated": "2024-05-01T08:00:00.0000000+00:00",
    }
    if instance_view:
        statuses: list[Mapping[str, Any]] = [
            {
                "code": f"ProvisioningState/{vm.provisioning}",
                "level": "Info",
                "displayStatus": f"Provisioning {vm.provisioning}",
            }
        ]
        statuses.append(
            {
                "code": f"PowerState/{vm.power}",
                "level": "Info",
                "displayStatus": _DISPLAY.get(vm.power, vm.power),
            }
        )
        properties["instanceView"] = {"computerName": vm.name, "statuses": statuses}
    return {
        "name": vm.name,
        "id": vm.resource_id,
        "type": PROVIDER,
        "location": vm.location,
        "tags": vm.tags,
        "properties": properties,
    }
