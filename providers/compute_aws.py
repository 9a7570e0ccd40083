"""AWS actions: stop, start and terminate EC2 instances; delete EBS volumes.

Ids are those of the billing data and the inventory: ``i-...`` and ``vol-...``, or their ARNs
(``arn:aws:ec2:REGION:ACCOUNT:instance/i-...``, ``.../volume/vol-...``). An ARN names its region;
a bare id is looked for in the account's configured regions, in order, and the region where it
was found is remembered.

Calls: ``stop_instances`` / ``start_instances`` / ``terminate_instances`` and ``delete_volume``;
a volume cannot be stopped or started. They return once EC2 accepted the request: the instance
is then ``stopping`` or ``shutting-down``, which :meth:`AwsCompute.describe` shows.

States, normalised:

=====================  ===========
EC2 instance           normalised
=====================  ===========
pending                pending
running                running
stopping               stopping
stopped                stopped
shutting-down          deleting     (terminating)
terminated             terminated   (listed for about an hour, then not found: None)
=====================  ===========

EBS volumes have no power state; one that exists is billed, so ``creating`` is pending,
``available`` (detached) and ``in-use`` are running, ``deleting`` is deleting, ``deleted`` is
terminated, ``error`` is other.

Errors go through ``providers.aws_common.translate_error``. Throttling (``RequestLimitExceeded``,
``Throttling``...) is retried by botocore's "standard" mode with exponential backoff for
``max_attempts`` calls in all; still throttled after that is ``ProviderThrottled``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from bot.config import AwsAccount
from bot.errors import ProviderError, ResourceGone
from providers.aws_common import AwsClients, resource_id_from_arn, translate_error
from providers.compute import Action, LiveResource, Metered

INSTANCE_STATES = {
    "pending": "pending",
    "running": "running",
    "stopping": "stopping",
    "stopped": "stopped",
    "shutting-down": "deleting",
    "terminated": "terminated",
}
VOLUME_STATES = {
    "creating": "pending",
    "available": "running",
    "in-use": "running",
    "deleting": "deleting",
    "deleted": "terminated",
}
NOT_FOUND = {"instance": "InvalidInstanceID.NotFound", "volume": "InvalidVolume.NotFound"}
_BARE_ID = re.compile(r"^(?:i|vol)-[0-9a-f]{8,17}$")


@dataclass(frozen=True, slots=True)
class Ec2Ref:
    """What an id names: an instance or a volume, its bare id, and its region if the id says."""

    kind: str  # "instance" or "volume"
    ec2_id: str
    region: str | None


def parse_id(resource_id: str) -> Ec2Ref | None:
    """The instance or volume ``resource_id`` names, or None if it names neither."""
    region: str | None = None
    ec2_id = resource_id
    if resource_id.startswith("arn:"):
        ec2_id, service, region, _, kind = resource_id_from_arn(resource_id)
        if service != "ec2" or kind not in ("instance", "volume") or not region:
            return None
    if not _BARE_ID.match(ec2_id):
        return None
    return Ec2Ref("instance" if ec2_id.startswith("i-") else "volume", ec2_id, region)


class AwsCompute(Metered):
    """Stop / start / destroy of one configured AWS account's EC2 instances and EBS volumes."""

    provider = "aws"

    def __init__(
        self,
        account: AwsAccount,
        *,
        session: boto3.Session | None = None,
        max_attempts: int = 5,
    ) -> None:
        self.name = account.name
        self.account = account
        self._clients = AwsClients(account, session=session, max_attempts=max_attempts)
        self._regions: dict[str, str] = {}  # bare id -> the region it was found in

    def close(self) -> None:
        """Close the HTTP connections of every client made so far."""
        self._clients.close()

    def handles(self, resource_id: str) -> bool:
        return parse_id(resource_id) is not None

    def _describe(self, resource_id: str) -> LiveResource | None:
        ref = self._ref(resource_id)
        candidates = [ref.region] if ref.region else self._search_order(ref.ec2_id)
        for region in candidates:
            raw = self._describe_in(ref, region)
            if raw is not None:
                self._regions[ref.ec2_id] = region
                return _live(resource_id, ref, raw)
        return None

    def _act(self, resource_id: str, action: Action) -> None:
        ref = self._ref(resource_id)
        if ref.kind == "volume" and action != "destroy":
            raise ProviderError(
                f"AWS account {self.name!r}: cannot {action} a volume ({ref.ec2_id})"
            )
        region = ref.region or self._regions.get(ref.ec2_id)
        if region is None and self._describe(resource_id) is not None:
            region = self._regions.get(ref.ec2_id)
        if region is None:
            self._gone(ref, action)
            return
        ec2 = self._clients.client("ec2", region)
        call = _CALLS[(ref.kind, action)]
        try:
            if ref.kind == "volume":
                ec2.delete_volume(VolumeId=ref.ec2_id)
            else:
                getattr(ec2, call)(InstanceIds=[ref.ec2_id])
        except ClientError as exc:
            if _code(exc) != NOT_FOUND[ref.kind]:
                raise translate_error(exc, account=self.name, call=_label(call, region)) from exc
            self._regions.pop(ref.ec2_id, None)
            self._gone(ref, action)

    # --- helpers ------------------------------------------------------------------------

    def _ref(self, resource_id: str) -> Ec2Ref:
        ref = parse_id(resource_id)
        if ref is None:
            raise ProviderError(
                f"AWS account {self.name!r}: {resource_id!r} is not an EC2 instance or EBS "
                "volume id or ARN"
            )
        return ref

    def _search_order(self, ec2_id: str) -> list[str]:
        known = self._regions.get(ec2_id)
        regions = list(self.account.regions)
        return [known, *(r for r in regions if r != known)] if known else regions

    def _describe_in(self, ref: Ec2Ref, region: str) -> dict[str, Any] | None:
        ec2 = self._clients.client("ec2", region)
        call = "describe_instances" if ref.kind == "instance" else "describe_volumes"
        try:
            if ref.kind == "instance":
                page = ec2.describe_instances(InstanceIds=[ref.ec2_id])
                found = [i for r in page.get("Reservations", ()) for i in r.get("Instances", ())]
            else:
                found = ec2.describe_volumes(VolumeIds=[ref.ec2_id]).get("Volumes", [])
        except ClientError as exc:
            if _code(exc) == NOT_FOUND[ref.kind]:
                return None
            raise translate_error(exc, account=self.name, call=_label(call, region)) from exc
        return dict(found[0]) if found else None

    def _gone(self, ref: Ec2Ref, action: Action) -> None:
        if action != "destroy":  # destroying what is already gone is done
            raise ResourceGone(
                f"AWS account {self.name!r}: cannot {action} {ref.kind} {ref.ec2_id}: "
                "it does not exist (any more)"
            )


_CALLS = {
    ("instance", "stop"): "stop_instances",
    ("instance", "start"): "start_instances",
    ("instance", "destroy"): "terminate_instances",
    ("volume", "destroy"): "delete_volume",
}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


def _label(call: str, region: str) -> str:
    # botocore's snake_case name -> the API's, as the cost source's messages name calls
    return "ec2:" + "".join(part.title() for part in call.split("_")) + f" in {region}"


def _live(resource_id: str, ref: Ec2Ref, raw: dict[str, Any]) -> LiveResource:
    tags = {str(t["Key"]): str(t.get("Value", "")) for t in raw.get("Tags") or ()}
    if ref.kind == "instance":
        state = INSTANCE_STATES.get(str(raw.get("State", {}).get("Name", "")), "other")
    else:
        state = VOLUME_STATES.get(str(raw.get("State", "")), "other")
    return LiveResource(resource_id=resource_id, kind=ref.kind, state=state, tags=tags)


def from_account(account: AwsAccount, **options: Any) -> AwsCompute:
    """Registry factory: the actions of one configured AWS account; ``options`` go to
    :class:`AwsCompute`."""
    return AwsCompute(account, **options)
