"""GCE instance actions: the real google-cloud-compute clients against a loopback fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from bot.config import GcpAccount
from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled, ResourceGone
from providers.compute import ComputeActions
from providers.compute_gcp import CALL_RETRY, GcpCompute, from_account, parse_id
from tests.fakes.gcp_compute import FakeComputeEngine, FakeInstance, compute_error

ZONE = "us-central1-a"
WEB = f"//compute.googleapis.com/projects/proj-a/zones/{ZONE}/instances/web-1"
DB = f"projects/proj-a/zones/{ZONE}/instances/db-1"
# The library's own retry, on a short clock, so persistent failures end fast.
FAST_RETRY = CALL_RETRY.with_delay(initial=0.01, maximum=0.02).with_timeout(0.5)


@pytest.fixture
def fake() -> Iterator[FakeComputeEngine]:
    instances = [
        FakeInstance("proj-a", ZONE, "web-1", labels={"owner": "bob", "team": "data"}),
        FakeInstance("proj-a", ZONE, "db-1"),
    ]
    with FakeComputeEngine(instances, steps=1) as server:
        yield server
        server.assert_clean()


_made: list[GcpCompute] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _made:
        _made.pop().close()


def compute(fake: FakeComputeEngine, *, token: str = "test-token", **options: Any) -> GcpCompute:
    account = GcpAccount(
        provider="gcp",
        name="gcp-main",
        bigquery_table="billing-admin.billing_export.gcp_billing_export_resource_v1_0",
        compute_endpoint_url=fake.url,
    )
    options.setdefault("retry", FAST_RETRY)
    made = from_account(account, credentials=Credentials(token=token), **options)
    _made.append(made)
    return made


@pytest.fixture
def actions(fake: FakeComputeEngine) -> GcpCompute:
    return compute(fake)


def test_it_is_a_compute_provider_and_parses_ids() -> None:
    actions = GcpCompute(name="gcp")
    assert isinstance(actions, ComputeActions)
    for resource_id in (
        WEB,
        DB,
        f"https://www.googleapis.com/compute/v1/projects/proj-a/zones/{ZONE}/instances/web-1",
    ):
        assert actions.handles(resource_id), resource_id
    ref = parse_id(WEB)
    assert ref is not None and (ref.project, ref.zone, ref.instance) == ("proj-a", ZONE, "web-1")
    assert not actions.handles("proj-a/web-1")
    assert not actions.handles("//compute.googleapis.com/projects/proj-a/global/images/img")
    assert not actions.handles("i-0123456789abcdef0")


def test_stop_waits_for_the_zonal_operation(
    fake: FakeComputeEngine, actions: GcpCompute
) -> None:
    before = actions.describe(WEB)
    assert before is not None
    assert (before.kind, before.state) == ("instance", "running")
    assert before.tags == {"owner": "bob", "team": "data"}

    actions.act(WEB, "stop")

    [stop] = fake.action_calls()
    assert stop.path == f"/compute/v1/projects/proj-a/zones/{ZONE}/instances/web-1/stop"
    [wait] = fake.calls_to("POST", "/operations/")
    assert wait.path.endswith("/wait")
    instance = fake.instance("proj-a", ZONE, "web-1")
    assert instance is not None and instance.status == "TERMINATED"
    after = actions.describe(WEB)
    assert after is not None and after.state == "stopped"  # GCE's TERMINATED


def test_stop_is_safe_to_repeat_and_start_brings_it_back(
    fake: FakeComputeEngine, actions: GcpCompute
) -> None:
    actions.act(DB, "stop")
    actions.act(DB, "stop")
    live = actions.describe(DB)
    assert live is not None and live.state == "stopped"
    actions.act(DB, "start")
    live = actions.describe(DB)
    assert live is not None and live.state == "running"
    assert [c.path.rsplit("/", 1)[-1] for c in fake.action_calls()] == ["stop", "stop", "start"]


def test_destroy_deletes_and_a_second_destroy_is_a_no_op(
    fake: FakeComputeEngine, actions: GcpCompute
) -> None:
    actions.act(WEB, "destroy")
    assert fake.instance("proj-a", ZONE, "web-1") is None
    assert actions.describe(WEB) is None
    actions.act(WEB, "destroy")
    assert [c.method for c in fake.action_calls()] == ["DELETE", "DELETE"]
    assert fake.instance("proj-a", ZONE, "db-1") is not None


def test_the_billing_exports_numeric_id_works(
    fake: FakeComputeEngine, actions: GcpCompute
) -> None:
    instance = fake.instance("proj-a", ZONE, "db-1")
    assert instance is not None
    by_id = WEB.replace("web-1", instance.instance_id)
    live = actions.describe(by_id)
    assert live is not None and live.resource_id == by_id and live.state == "running"
    actions.act(by_id, "stop")
    assert instance.status == "TERMINATED"


def test_unknown_instance(fake: FakeComputeEngine, actions: GcpCompute) -> None:
    missing = WEB.replace("web-1", "web-404")
    assert actions.describe(missing) is None
    with pytest.raises(ResourceGone, match="web-404"):
        actions.act(missing, "stop")
    with pytest.raises(ResourceGone):
        actions.act(missing, "start")
    actions.act(missing, "destroy")  # already gone: done
    with pytest.raises(ProviderError, match="not a Compute Engine instance"):
        actions.act("web-1", "stop")


def test_an_operation_still_running_at_the_deadline_is_accepted(
    fake: FakeComputeEngine,
) -> None:
    fake.hold_operations = True
    ticks = iter(range(0, 10_000, 100))
    actions = compute(fake, wait_timeout=150, clock=lambda: next(ticks))
    actions.act(WEB, "stop")  # still RUNNING at the deadline: accepted, not an error
    assert len(fake.calls_to("POST", "/wait")) == 1
    live = actions.describe(WEB)
    assert live is not None and live.state == "stopping"


def test_throttling_is_retried_then_succeeds(fake: FakeComputeEngine, actions: GcpCompute) -> None:
    fake.throttle(times=2)
    live = actions.describe(WEB)
    assert live is not None and live.state == "running"
    assert len(fake.calls_to("GET", "/instances/web-1")) == 3
    fake.throttle(times=1)
    actions.act(WEB, "stop")
    assert len(fake.action_calls()) == 2  # the refused stop, then the accepted one
    instance = fake.instance("proj-a", ZONE, "web-1")
    assert instance is not None and instance.status == "TERMINATED"


def test_persistent_throttling_ends_as_throttled(
    fake: FakeComputeEngine, actions: GcpCompute
) -> None:
    fake.throttle(times=None)
    with pytest.raises(ProviderThrottled, match="rateLimitExceeded"):
        actions.act(WEB, "stop")
    assert len(fake.action_calls()) > 1  # retried before giving up
    with pytest.raises(ProviderThrottled, match="Compute instances.get web-1"):
        actions.describe(WEB)
    instance = fake.instance("proj-a", ZONE, "web-1")
    assert instance is not None and instance.status == "RUNNING"


def test_refused_token_is_an_auth_error(fake: FakeComputeEngine) -> None:
    actions = compute(fake, token="wrong")
    # on the 401, google-auth tries to refresh the token, which a bare token cannot do
    with pytest.raises(ProviderAuthError, match="credentials failed"):
        actions.describe(WEB)
    [refused] = fake.calls
    assert refused.headers["authorization"] == "Bearer wrong"
    with pytest.raises(ProviderAuthError):
        actions.act(WEB, "destroy")
    assert fake.instance("proj-a", ZONE, "web-1") is not None


def test_server_errors_are_provider_errors(fake: FakeComputeEngine, actions: GcpCompute) -> None:
    fake.fail_next(compute_error(500, "Internal error. Please try again.", "backendError"))
    with pytest.raises(ProviderError, match="500") as raised:
        actions.act(WEB, "stop")
    assert not isinstance(raised.value, ProviderThrottled | ProviderAuthError)
    unavailable = compute_error(503, "The service is currently unavailable.", "backendError")
    fake.fail_next(unavailable, times=None)
    with pytest.raises(ProviderError, match="503") as raised:
        actions.describe(WEB)
    assert not isinstance(raised.value, ProviderThrottled | ProviderAuthError)
    assert len(fake.calls_to("GET", "/instances/web-1")) > 1  # 503 is retried first


def test_a_failed_operation_is_an_error(fake: FakeComputeEngine, actions: GcpCompute) -> None:
    fake.fail_operations = True
    with pytest.raises(ProviderError, match="ZONE_RESOURCE_POOL_EXHAUSTED|does not have enough"):
        actions.act(DB, "start")
