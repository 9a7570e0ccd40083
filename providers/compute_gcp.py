"""Google Cloud actions on Compute Engine instances (``google-cloud-compute`` over REST).

Ids: ``//compute.googleapis.com/projects/P/zones/Z/instances/N`` (the billing export's
``resource.global_name``), ``projects/P/zones/Z/instances/N``, or the instance's selfLink. N is
the instance's name or its numeric id; the Compute API takes either.

``stop`` / ``start`` / ``destroy`` are ``instances.stop`` / ``start`` / ``delete``. Each returns
a zonal Operation, which is waited on with ``zoneOperations.wait`` (the server holds each call up
to two minutes) until it is DONE or ``wait_timeout`` seconds have passed; then the call returns:
the request was accepted, and :meth:`GcpCompute.describe` tells where it is. (The library's own
``operation.result()`` polls through an operations client made without our ``client_options``,
so it would ignore a configured endpoint.) A DONE operation carrying an error is raised.

States (``instances.get``'s ``status``), normalised. GCE calls a stopped VM TERMINATED:

===========================  ===========
status                       normalised
===========================  ===========
PROVISIONING, STAGING        pending
RUNNING                      running
STOPPING, SUSPENDING,        stopping
PENDING_STOP
TERMINATED, STOPPED,         stopped
SUSPENDED
REPAIRING and anything new   other
===========================  ===========

Errors go through ``providers.gcp.translate_error``. 429 and 503 are retried with exponential
backoff (``retry``, two minutes by default): still 429 is ``ProviderThrottled``, still 503 a
``ProviderError``. Not found: ``describe`` gives None, ``destroy`` is done, stop and start raise
``ResourceGone``. ``endpoint_url`` replaces the API root (``client_options.api_endpoint``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry, if_exception_type
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials
from google.cloud.compute_v1 import InstancesClient, Operation, ZoneOperationsClient

from bot.config import GcpAccount
from bot.errors import ProviderError, ResourceGone
from providers.compute import Action, LiveResource, Metered
from providers.gcp import translate_error

DEFAULT_WAIT = 300.0  # seconds an action waits for its operation to be DONE
CALL_RETRY = Retry(
    predicate=if_exception_type(api_exceptions.TooManyRequests, api_exceptions.ServiceUnavailable),
    initial=1.0,
    maximum=30.0,
    multiplier=2.0,
    timeout=120.0,
)
STATES = {
    "PROVISIONING": "pending",
    "STAGING": "pending",
    "RUNNING": "running",
    "STOPPING": "stopping",
    "SUSPENDING": "stopping",
    "PENDING_STOP": "stopping",
    "TERMINATED": "stopped",
    "STOPPED": "stopped",
    "SUSPENDED": "stopped",
}
ACTIONS = {"stop": "stop_unary", "start": "start_unary", "destroy": "delete_unary"}
_INSTANCE = re.compile(
    r"^(?://compute\.googleapis\.com/|https://(?:www|compute)\.googleapis\.com/compute/v1/)?"
    r"projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)/instances/(?P<instance>[^/]+)$"
)


@dataclass(frozen=True, slots=True)
class InstanceRef:
    """The parts of an instance's path."""

    project: str
    zone: str
    instance: str


def parse_id(resource_id: str) -> InstanceRef | None:
    """The instance ``resource_id`` names, or None if it is not a GCE instance path."""
    match = _INSTANCE.match(resource_id)
    return InstanceRef(match["project"], match["zone"], match["instance"]) if match else None


class GcpCompute(Metered):
    """Stop / start / delete of the Compute Engine instances the credentials can reach."""

    provider = "gcp"

    def __init__(
        self,
        *,
        name: str,
        endpoint_url: str | None = None,
        credentials: Credentials | None = None,
        retry: Retry = CALL_RETRY,
        wait_timeout: float = DEFAULT_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.endpoint_url = endpoint_url
        self.credentials = credentials  # None: Application Default Credentials
        self.retry = retry
        self.wait_timeout = wait_timeout
        self._clock = clock
        self._instances: InstancesClient | None = None
        self._operations: ZoneOperationsClient | None = None

    def close(self) -> None:
        """Close the HTTP sessions of the clients made so far."""
        for client in (self._instances, self._operations):
            if client is not None:
                client.transport.close()
        self._instances = self._operations = None

    def handles(self, resource_id: str) -> bool:
        return parse_id(resource_id) is not None

    def _describe(self, resource_id: str) -> LiveResource | None:
        ref = self._ref(resource_id)
        try:
            with self._errors(f"instances.get {ref.instance} in {ref.zone}"):
                found = self._clients()[0].get(
                    project=ref.project, zone=ref.zone, instance=ref.instance, retry=self.retry
                )
        except ResourceGone:
            return None
        return LiveResource(
            resource_id=resource_id,
            kind="instance",
            state=STATES.get(found.status, "other"),
            tags=dict(found.labels),
        )

    def _act(self, resource_id: str, action: Action) -> None:
        ref = self._ref(resource_id)
        call = ACTIONS[action]
        instances, operations = self._clients()
        where = f"instances.{call.removesuffix('_unary')} {ref.instance} in {ref.zone}"
        try:
            with self._errors(where):
                operation = getattr(instances, call)(
                    project=ref.project, zone=ref.zone, instance=ref.instance, retry=self.retry
                )
                self._wait(operations, ref, operation)
        except ResourceGone:
            if action != "destroy":
                raise

    # --- helpers ------------------------------------------------------------------------

    def _ref(self, resource_id: str) -> InstanceRef:
        ref = parse_id(resource_id)
        if ref is None:
            raise ProviderError(
                f"gcp account {self.name!r}: {resource_id!r} is not a Compute Engine instance"
            )
        return ref

    def _clients(self) -> tuple[InstancesClient, ZoneOperationsClient]:
        if self._instances is None or self._operations is None:
            options = ClientOptions(api_endpoint=self.endpoint_url) if self.endpoint_url else None
            with self._errors("client"):
                self._instances = InstancesClient(
                    credentials=self.credentials, transport="rest", client_options=options
                )
                self._operations = ZoneOperationsClient(
                    credentials=self.credentials, transport="rest", client_options=options
                )
        return self._instances, self._operations

    def _wait(self, operations: ZoneOperationsClient, ref: InstanceRef, op: Operation) -> None:
        deadline = self._clock() + self.wait_timeout
        while op.status != Operation.Status.DONE:
            if self._clock() >= deadline:
                return  # accepted and still running
            op = operations.wait(
                project=ref.project, zone=ref.zone, operation=op.name, retry=self.retry
            )
        if op.error.errors or op.http_error_status_code >= 400:
            first = op.error.errors[0] if op.error.errors else None
            raise api_exceptions.from_http_status(
                op.http_error_status_code or 500,
                op.http_error_message or (first.message if first else "operation failed"),
                errors=[{"reason": e.code, "message": e.message} for e in op.error.errors],
            )

    @contextmanager
    def _errors(self, call: str) -> Iterator[None]:
        try:
            yield
        except api_exceptions.NotFound as exc:
            raise ResourceGone(
                f"gcp account {self.name!r}: Compute {call}: the instance does not exist "
                "(any more)"
            ) from exc
        except (
            api_exceptions.GoogleAPIError,
            auth_exceptions.GoogleAuthError,
            requests.RequestException,
        ) as exc:
            raise translate_error(exc, account=self.name, call=f"Compute {call}") from exc


def from_account(account: GcpAccount, **options: Any) -> GcpCompute:
    """Registry factory: the instance actions of one configured GCP account; ``options`` go to
    :class:`GcpCompute` (``credentials``, ``retry``, ``wait_timeout``)."""
    return GcpCompute(name=account.name, endpoint_url=account.compute_endpoint_url, **options)
