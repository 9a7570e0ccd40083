"""Azure actions on virtual machines through ARM's Compute API (``azure-mgmt-compute``).

Ids are ARM resource ids, ``/subscriptions/S/resourceGroups/G/providers/Microsoft.Compute/
virtualMachines/N``, matched without regard to case (Cost Management reports them lower-cased).
An account whose scope is a subscription or a resource group handles only the VMs inside it;
one with a wider scope (billing account, management group) handles any VM id.

``stop`` deallocates (``begin_deallocate``): a VM that is only powered off keeps its compute
billed. ``start`` is ``begin_start``, ``destroy`` is ``begin_delete``. Each is a long-running
operation; the call waits for it (ARM's Azure-AsyncOperation polling, by azure-core) for at most
``wait_timeout`` seconds, then returns: the request was accepted and :meth:`describe` tells
where it is. An operation that ends ``Failed`` is a ``ProviderError``.

:meth:`AzureCompute.describe` reads ``virtual_machines.get(expand="instanceView")``. States:

==============================  ===========
instance view                   normalised
==============================  ===========
ProvisioningState/deleting      deleting
PowerState/starting             pending
PowerState/running              running
PowerState/stopping             stopping
PowerState/deallocating         stopping
PowerState/deallocated          stopped
PowerState/stopped              other      (powered off but allocated: compute still billed,
                                            so it is neither stopped nor running here)
no PowerState yet (creating)    pending
==============================  ===========

Errors go through ``providers.azure.translate_error``: 401/403 ``ProviderAuthError``, 429 after
azure-core's retries (which wait what ``Retry-After`` says) ``ProviderThrottled``, the rest
``ProviderError``. A VM that is not there: ``describe`` gives None, ``destroy`` is done, stop and
start raise ``ResourceGone``. ``endpoint_url`` replaces ARM's root (sovereign clouds, tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.core.pipeline.policies import RetryPolicy
from azure.mgmt.compute import ComputeManagementClient

from bot.config import AzureAccount
from bot.errors import ProviderError, ResourceGone
from providers.azure import DEFAULT_CLIENT_OPTIONS, default_credential, translate_error
from providers.compute import Action, LiveResource, Metered

SERVICE = "Compute"
DEFAULT_WAIT = 300.0  # seconds an action waits for its operation to finish
POWER_STATES = {
    "starting": "pending",
    "running": "running",
    "stopping": "stopping",
    "deallocating": "stopping",
    "deallocated": "stopped",
}
ACTIONS = {"stop": "begin_deallocate", "start": "begin_start", "destroy": "begin_delete"}
# ARM answers 404 with these codes when the VM, or the group holding it, is not there
NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceGroupNotFound", "NotFound"})
_VM_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
    r"/providers/Microsoft\.Compute/virtualMachines/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class VmRef:
    """The parts of a VM's resource id."""

    subscription: str
    group: str
    name: str


def parse_id(resource_id: str) -> VmRef | None:
    """The VM ``resource_id`` names, or None if it is not a VM resource id."""
    match = _VM_ID.match(resource_id)
    return VmRef(match["subscription"], match["group"], match["name"]) if match else None


class AzureCompute(Metered):
    """Deallocate / start / delete of the virtual machines one configured Azure account sees."""

    provider = "azure"

    def __init__(
        self,
        *,
        name: str,
        scope: str = "",
        endpoint_url: str | None = None,
        credential: TokenCredential | None = None,
        client_options: Mapping[str, Any] | None = None,
        wait_timeout: float = DEFAULT_WAIT,
    ) -> None:
        self.name = name
        self.scope = "/" + scope.strip("/").lower() if scope.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.credential = credential  # None: azure-identity's DefaultAzureCredential
        self.client_options = {**DEFAULT_CLIENT_OPTIONS, **(client_options or {})}
        self.wait_timeout = wait_timeout
        self._clients: dict[str, ComputeManagementClient] = {}  # per subscription

    def close(self) -> None:
        """Close the HTTP connections of every client made so far."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def handles(self, resource_id: str) -> bool:
        if parse_id(resource_id) is None:
            return False
        if not self.scope.startswith("/subscriptions/"):
            return True  # a billing or management-group scope: any subscription may be ours
        return resource_id.lower().startswith(self.scope + "/")

    def _describe(self, resource_id: str) -> LiveResource | None:
        vm = self._ref(resource_id)
        try:
            with self._errors(f"virtual_machines.get {vm.name}"):
                found = self._client(vm).virtual_machines.get(
                    vm.group, vm.name, expand="instanceView"
                )
        except ResourceGone:
            return None
        view = found.instance_view
        codes = [str(s.code or "") for s in (view.statuses if view else None) or ()]
        return LiveResource(
            resource_id=resource_id,
            kind="vm",
            state=power_state(codes),
            tags={str(k): str(v) for k, v in (found.tags or {}).items()},
        )

    def _act(self, resource_id: str, action: Action) -> None:
        vm = self._ref(resource_id)
        call = ACTIONS[action]
        begin = getattr(self._client(vm).virtual_machines, call)
        try:
            with self._errors(f"virtual_machines.{call} {vm.name}"):
                poller = begin(vm.group, vm.name)
                poller.result(timeout=self.wait_timeout)  # returns early: still accepted
        except ResourceGone:
            if action != "destroy":
                raise

    # --- helpers ------------------------------------------------------------------------

    def _ref(self, resource_id: str) -> VmRef:
        vm = parse_id(resource_id)
        if vm is None:
            raise ProviderError(
                f"azure account {self.name!r}: {resource_id!r} is not a virtual machine id"
            )
        return vm

    def _client(self, vm: VmRef) -> ComputeManagementClient:
        key = vm.subscription.lower()
        if key not in self._clients:
            credential = self.credential or default_credential(self.name)
            options = dict(self.client_options)
            if self.endpoint_url:
                options["base_url"] = self.endpoint_url
            options.setdefault("retry_policy", ClosingRetryPolicy(**self.client_options))
            self._clients[key] = ComputeManagementClient(credential, vm.subscription, **options)
        return self._clients[key]

    @contextmanager
    def _errors(self, call: str) -> Iterator[None]:
        try:
            yield
        except AzureError as exc:
            if _not_found(exc):
                raise ResourceGone(
                    f"azure account {self.name!r}: {SERVICE} {call}: the virtual machine does "
                    "not exist (any more)"
                ) from exc
            raise translate_error(exc, account=self.name, call=call, service=SERVICE) from exc


class ClosingRetryPolicy(RetryPolicy):
    """azure-core's retry policy, closing each response it is about to retry: it leaves them
    open, and the streamed first response of a long-running operation then holds its socket."""

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        if response is not None:
            response.http_response.close()
        super().sleep(settings, transport, response)


def power_state(codes: list[str]) -> str:
    """The normalised state of a VM from its instance view's status codes."""
    lowered = [c.lower() for c in codes]
    if "provisioningstate/deleting" in lowered:
        return "deleting"
    power = next((c.split("/", 1)[1] for c in lowered if c.startswith("powerstate/")), None)
    if power is None:
        return "pending" if "provisioningstate/creating" in lowered else "other"
    return POWER_STATES.get(power, "other")


def _not_found(exc: AzureError) -> bool:
    if isinstance(exc, ResourceNotFoundError):
        return True
    if isinstance(exc, HttpResponseError) and exc.status_code == 404:
        code = getattr(exc.error, "code", None)
        return code is None or code in NOT_FOUND_CODES
    return False


def from_account(account: AzureAccount, **options: Any) -> AzureCompute:
    """Registry factory: the VM actions of one configured Azure account; ``options`` go to
    :class:`AzureCompute` (``credential``, ``client_options``, ``wait_timeout``)."""
    return AzureCompute(
        name=account.name, scope=account.scope, endpoint_url=account.endpoint_url, **options
    )
