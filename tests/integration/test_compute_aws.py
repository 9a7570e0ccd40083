"""AWS actions: real boto3 against moto (server mode), and through a loopback hop that puts
EC2's throttling and auth errors on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import AwsAccount
from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled, ResourceGone
from providers.compute import ComputeActions
from providers.compute_aws import AwsCompute, Ec2Ref, from_account, parse_id
from tests.fakes import aws as moto_fakes
from tests.fakes.aws import DEFAULT_ACCOUNT, MotoProxy, MotoServer, action_of, ec2_error, throttled

moto_server = moto_fakes.moto_server
aws = moto_fakes.aws

@pytest.fixture
def compute_for(aws: MotoServer) -> Iterator[Any]:
    made: list[AwsCompute] = []

    def make(endpoint_url: str | None = None, **fields: Any) -> AwsCompute:
        options = {k: fields.pop(k) for k in ("session", "max_attempts") if k in fields}
        options.setdefault("max_attempts", 1)
        account = AwsAccount(
            provider="aws", name="prod", endpoint_url=endpoint_url or aws.endpoint_url, **fields
        )
        actions = from_account(account, **options)
        made.append(actions)
        return actions

    yield make
    for actions in made:
        actions.close()


@pytest.fixture
def proxy(aws: MotoServer) -> Iterator[MotoProxy]:
    with MotoProxy(aws.endpoint_url) as hop:
        yield hop
        hop.assert_clean()


def test_ids_and_arns_it_handles() -> None:
    actions = AwsCompute(AwsAccount(provider="aws", name="prod"))
    assert isinstance(actions, ComputeActions)
    arn = f"arn:aws:ec2:eu-west-1:{DEFAULT_ACCOUNT}:instance/i-0123456789abcdef0"
    assert parse_id(arn) == Ec2Ref("instance", "i-0123456789abcdef0", "eu-west-1")
    assert parse_id("vol-0123456789abcdef0") == Ec2Ref("volume", "vol-0123456789abcdef0", None)
    volume_arn = arn.replace("instance/i-", "volume/vol-")
    for handled in ("i-0123456789abcdef0", "vol-0123456789abcdef0", arn, volume_arn):
        assert actions.handles(handled), handled
    for other in (
        "my-bucket",
        "arn:aws:s3:::my-bucket",
        f"arn:aws:ec2:eu-west-1:{DEFAULT_ACCOUNT}:security-group/sg-0123456789abcdef0",
        "arn:aws:rds:eu-west-1:123:db:main",
        "i-not-hex",
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v",
    ):
        assert not actions.handles(other), other


def test_stop_then_start_an_instance(aws: MotoServer, compute_for: Any) -> None:
    instance = aws.run_instance(owner="alice@example.com")
    actions = compute_for()
    live = actions.describe(instance)
    assert live is not None
    assert (live.resource_id, live.kind) == (instance, "instance")
    assert live.state in ("pending", "running")
    assert live.tags == {"owner": "alice@example.com"}

    actions.act(instance, "stop")
    assert aws.instance_state(instance) == "stopped"
    live = actions.describe(instance)
    assert live is not None and live.state == "stopped"

    actions.act(instance, "stop")  # repeating is safe
    assert aws.instance_state(instance) == "stopped"

    actions.act(instance, "start")
    live = actions.describe(instance)
    assert live is not None and live.state in ("pending", "running")


def test_destroy_terminates_and_can_be_repeated(aws: MotoServer, compute_for: Any) -> None:
    instance = aws.run_instance()
    keep = aws.run_instance()
    actions = compute_for()
    actions.act(instance, "destroy")
    live = actions.describe(instance)
    assert live is not None and live.state == "terminated" and live.gone
    actions.act(instance, "destroy")
    assert aws.instance_state(keep) in ("pending", "running")


def test_volumes_are_deleted_and_never_stopped(aws: MotoServer, compute_for: Any) -> None:
    ec2 = aws.client("ec2")
    volume = ec2.create_volume(Size=8, AvailabilityZone="us-east-1a")["VolumeId"]
    ec2.close()
    actions = compute_for()
    live = actions.describe(volume)
    assert live is not None and (live.kind, live.state) == ("volume", "running")
    with pytest.raises(ProviderError, match="cannot stop a volume"):
        actions.act(volume, "stop")
    actions.act(volume, "destroy")
    assert actions.describe(volume) is None
    actions.act(volume, "destroy")  # already gone: done
    with pytest.raises(ProviderError, match="cannot start a volume"):
        actions.act(volume, "start")


def test_an_arn_names_its_region(aws: MotoServer, compute_for: Any) -> None:
    instance = aws.run_instance("eu-west-1")
    arn = f"arn:aws:ec2:eu-west-1:{DEFAULT_ACCOUNT}:instance/{instance}"
    actions = compute_for()  # configured for us-east-1 only
    assert actions.describe(instance) is None
    live = actions.describe(arn)
    assert live is not None and live.resource_id == arn
    actions.act(arn, "stop")
    assert aws.instance_state(instance, "eu-west-1") == "stopped"


def test_a_bare_id_is_looked_for_in_each_region_once(
    aws: MotoServer, compute_for: Any, proxy: MotoProxy
) -> None:
    instance = aws.run_instance("eu-west-1")
    actions = compute_for(proxy.url, regions=["us-east-1", "eu-west-1"])
    live = actions.describe(instance)
    assert live is not None
    assert proxy.actions() == ["DescribeInstances", "DescribeInstances"]  # us-east-1, then eu
    proxy.calls.clear()
    actions.act(instance, "stop")  # the region found is remembered
    assert proxy.actions() == ["StopInstances"]
    assert aws.instance_state(instance, "eu-west-1") == "stopped"


def test_unknown_ids(aws: MotoServer, compute_for: Any) -> None:
    actions = compute_for(regions=["us-east-1", "us-west-2"])
    assert actions.describe("i-0123456789abcdef0") is None
    assert actions.describe("vol-0123456789abcdef0") is None
    with pytest.raises(ResourceGone, match="i-0123456789abcdef0"):
        actions.act("i-0123456789abcdef0", "stop")
    actions.act("i-0123456789abcdef0", "destroy")
    actions.act("vol-0123456789abcdef0", "destroy")
    with pytest.raises(ProviderError, match="not an EC2 instance or EBS volume"):
        actions.act("my-bucket", "destroy")


def test_throttling_is_retried_then_succeeds(
    aws: MotoServer, compute_for: Any, proxy: MotoProxy
) -> None:
    instance = aws.run_instance()
    arn = f"arn:aws:ec2:us-east-1:{DEFAULT_ACCOUNT}:instance/{instance}"
    proxy.fail_next(throttled(), times=2, when=lambda c: action_of(c) == "StopInstances")
    actions = compute_for(proxy.url, max_attempts=3)
    actions.act(arn, "stop")
    assert proxy.actions() == ["StopInstances"] * 3
    assert aws.instance_state(instance) == "stopped"


def test_persistent_throttling_ends_as_throttled(
    aws: MotoServer, compute_for: Any, proxy: MotoProxy
) -> None:
    instance = aws.run_instance()
    proxy.fail_next(throttled(), times=None)
    actions = compute_for(proxy.url, max_attempts=2)
    expected = "ec2:DescribeInstances in us-east-1 failed: RequestLimitExceeded"
    with pytest.raises(ProviderThrottled, match=expected):
        actions.describe(instance)
    assert proxy.actions() == ["DescribeInstances"] * 2
    arn = f"arn:aws:ec2:us-east-1:{DEFAULT_ACCOUNT}:instance/{instance}"
    with pytest.raises(ProviderThrottled, match="ec2:TerminateInstances"):
        actions.act(arn, "destroy")
    assert aws.instance_state(instance) in ("pending", "running")


def test_refused_credentials_are_an_auth_error(
    aws: MotoServer, compute_for: Any, proxy: MotoProxy
) -> None:
    instance = aws.run_instance()
    refused = "AWS was not able to validate the provided access credentials"
    proxy.fail_next(ec2_error(401, "AuthFailure", refused), times=None)
    actions = compute_for(proxy.url, max_attempts=3)
    with pytest.raises(ProviderAuthError, match="AuthFailure"):
        actions.act(f"arn:aws:ec2:us-east-1:{DEFAULT_ACCOUNT}:instance/{instance}", "stop")
    assert len(proxy.calls) == 1  # not retried
    assert aws.instance_state(instance) in ("pending", "running")


def test_a_server_error_is_a_provider_error(
    aws: MotoServer, compute_for: Any, proxy: MotoProxy
) -> None:
    instance = aws.run_instance()
    proxy.fail_next(ec2_error(500, "InternalError", "An internal error has occurred."), times=None)
    actions = compute_for(proxy.url, max_attempts=2)
    with pytest.raises(ProviderError, match="InternalError") as raised:
        actions.act(f"arn:aws:ec2:us-east-1:{DEFAULT_ACCOUNT}:instance/{instance}", "stop")
    assert not isinstance(raised.value, ProviderThrottled | ProviderAuthError)
    assert len(proxy.calls) == 2  # retried as transient, then reported
    assert aws.instance_state(instance) in ("pending", "running")
