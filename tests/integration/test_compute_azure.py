"""Azure VM actions: the real azure-mgmt-compute client against a loopback ARM fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.pipeline.policies import HeadersPolicy

from bot.config import AzureAccount
from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled, ResourceGone
from providers.compute import ComputeActions
from providers.compute_azure import AzureCompute, from_account, parse_id, power_state
from tests.fakes.azure_compute import FakeArmCompute, FakeVm, NoToken, RecordingTransport
from tests.fakes.azure_cost import arm_error

SUB = "00000000-0000-0000-0000-000000000001"
OTHER_SUB = "00000000-0000-0000-0000-000000000002"
VM1 = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-1"
VM2 = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-2"


@pytest.fixture
def fake() -> Iterator[FakeArmCompute]:
    vms = [
        FakeVm(SUB, "rg-app", "vm-1", tags={"owner": "alice@example.com", "team": "web"}),
        FakeVm(SUB, "rg-app", "vm-2"),
        FakeVm(OTHER_SUB, "rg-data", "vm-9"),
    ]
    with FakeArmCompute(vms, steps=1) as server:
        yield server
        server.assert_clean()


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


_made: list[AzureCompute] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _made:
        _made.pop().close()


def compute(
    fake: FakeArmCompute,
    transport: RecordingTransport,
    *,
    scope: str = f"/subscriptions/{SUB}",
    token: str = "test",
    **options: Any,
) -> AzureCompute:
    account = AzureAccount(provider="azure", name="az-prod", scope=scope, endpoint_url=fake.url)
    client_options = {
        # azure-core refuses bearer tokens over http; the fake checks this header instead.
        "authentication_policy": HeadersPolicy({"Authorization": f"Bearer {token}"}),
        "transport": transport,
        **options.pop("client_options", {}),
    }
    made = from_account(account, credential=NoToken(), client_options=client_options, **options)
    _made.append(made)
    return made


def test_it_is_a_compute_provider_and_parses_ids_without_regard_to_case() -> None:
    actions = AzureCompute(name="az", scope=f"/subscriptions/{SUB}")
    assert isinstance(actions, ComputeActions)
    assert actions.handles(VM1)
    assert actions.handles(VM1.lower())  # as Cost Management reports ids
    assert not actions.handles(VM1.replace(SUB, OTHER_SUB))  # outside the account's scope
    assert not actions.handles(f"/subscriptions/{SUB}/resourceGroups/rg-app")
    assert not actions.handles("i-0123456789abcdef0")
    assert AzureCompute(name="billing", scope="/providers/Microsoft.Billing/x").handles(
        VM1.replace(SUB, OTHER_SUB)
    )
    ref = parse_id(VM1.lower())
    assert ref is not None and (ref.subscription, ref.group, ref.name) == (SUB, "rg-app", "vm-1")


def test_stop_deallocates_and_waits_for_the_operation(
    fake: FakeArmCompute, transport: RecordingTransport
) -> None:
    actions = compute(fake, transport)
    before = actions.describe(VM1)
    assert before is not None
    assert (before.kind, before.state) == ("vm", "running")
    assert before.tags == {"owner": "alice@example.com", "team": "web"}

    actions.act(VM1, "stop")

    vm = fake.vm(SUB, "rg-app", "vm-1")
    assert vm is not None and vm.power == "deallocated"
    [post] = fake.action_calls()
    assert post.path.endswith("/virtualMachines/vm-1/deallocate")
    polls = fake.calls_to("GET", "/operations/")
    # the Azure-AsyncOperation URL answered InProgress, then Succeeded; then the Location URL
    assert [c.param("monitor") for c in polls] == [None, None, "true"]
    assert 10 in transport.slept  # the poller waited what the operation's Retry-After said
    after = actions.describe(VM1)
    assert after is not None and after.state == "stopped"


def test_stop_is_safe_to_repeat(fake: FakeArmCompute, transport: RecordingTransport) -> None:
    actions = compute(fake, transport)
    actions.act(VM1, "stop")
    actions.act(VM1, "stop")
    assert len(fake.action_calls()) == 2
    live = actions.describe(VM1)
    assert live is not None and live.state == "stopped"


def test_start_brings_a_deallocated_vm_back(
    fake: FakeArmCompute, transport: RecordingTransport
) -> None:
    fake.add(FakeVm(SUB, "rg-app", "vm-3", power="deallocated"))
    vm3 = VM1.replace("vm-1", "vm-3")
    actions = compute(fake, transport)
    live = actions.describe(vm3)
    assert live is not None and live.state == "stopped"
    actions.act(vm3, "start")
    live = actions.describe(vm3)
    assert live is not None and live.state == "running"
    assert fake.action_calls()[0].path.endswith("/vm-3/start")


def test_destroy_deletes_and_a_second_destroy_is_a_no_op(
    fake: FakeArmCompute, transport: RecordingTransport
) -> None:
    actions = compute(fake, transport)
    actions.act(VM2, "destroy")
    assert fake.vm(SUB, "rg-app", "vm-2") is None
    assert actions.describe(VM2) is None
    actions.act(VM2, "destroy")  # ARM answers 204 for a VM that is not there
    assert [c.method for c in fake.action_calls()] == ["DELETE", "DELETE"]
    assert fake.vm(SUB, "rg-app", "vm-1") is not None  # nothing else touched


def test_unknown_vm_or_group(fake: FakeArmCompute, transport: RecordingTransport) -> None:
    actions = compute(fake, transport)
    missing = VM1.replace("vm-1", "vm-404")
    no_group = VM1.replace("rg-app", "rg-gone")
    assert actions.describe(missing) is None
    assert actions.describe(no_group) is None
    with pytest.raises(ResourceGone, match="vm-404"):
        actions.act(missing, "stop")
    with pytest.raises(ResourceGone):
        actions.act(no_group, "start")
    actions.act(missing, "destroy")  # already gone: done
    with pytest.raises(ProviderError, match="not a virtual machine id"):
        actions.describe("vm-1")


def test_power_states_are_normalised(fake: FakeArmCompute, transport: RecordingTransport) -> None:
    for name, power, provisioning in [
        ("vm-a", "deallocating", "updating"),
        ("vm-b", "stopped", "succeeded"),  # powered off, still allocated and billed
        ("vm-c", "starting", "updating"),
        ("vm-d", "stopping", "deleting"),
    ]:
        fake.add(FakeVm(SUB, "rg-app", name, power=power, provisioning=provisioning))
    actions = compute(fake, transport)
    states = {}
    for name in ("vm-a", "vm-b", "vm-c", "vm-d"):
        live = actions.describe(VM1.replace("vm-1", name))
        assert live is not None
        states[name] = live.state
    assert states == {"vm-a": "stopping", "vm-b": "other", "vm-c": "pending", "vm-d": "deleting"}
    assert power_state(["ProvisioningState/creating"]) == "pending"
    assert power_state([]) == "other"


def test_throttling_waits_retry_after_then_succeeds(
    fake: FakeArmCompute, transport: RecordingTransport
) -> None:
    fake.throttle(times=2, retry_after=3)
    actions = compute(fake, transport)
    live = actions.describe(VM1)
    assert live is not None and live.state == "running"
    assert len(fake.calls_to("GET", "/virtualMachines/vm-1")) == 3
    assert transport.slept[:2] == [3, 3]


def test_persistent_throttling_ends_as_throttled(
    fake: FakeArmCompute, transport: RecordingTransport
) -> None:
    fake.throttle(times=None)
    actions = compute(fake, transport, client_options={"retry_total": 2})
    with pytest.raises(ProviderThrottled, match="Compute virtual_machines.begin_deallocate"):
        actions.act(VM1, "stop")
    assert len(fake.calls) == 3  # the first call and two retries
    with pytest.raises(ProviderThrottled, match="TooManyRequests"):
        actions.describe(VM1)
    vm = fake.vm(SUB, "rg-app", "vm-1")
    assert vm is not None and vm.power == "running"


def test_refused_token_is_an_auth_error(
    fake: FakeArmCompute, transport: RecordingTransport
) -> None:
    actions = compute(fake, transport, token="stolen")
    with pytest.raises(ProviderAuthError, match="InvalidAuthenticationToken"):
        actions.describe(VM1)
    with pytest.raises(ProviderAuthError):
        actions.act(VM1, "destroy")
    assert fake.vm(SUB, "rg-app", "vm-1") is not None


def test_server_errors_are_provider_errors(
    fake: FakeArmCompute, transport: RecordingTransport
) -> None:
    fake.fail_next(
        arm_error(500, "InternalServerError", "An unexpected error occured."), times=None
    )
    actions = compute(fake, transport, client_options={"retry_total": 1})
    with pytest.raises(ProviderError, match="500 InternalServerError") as raised:
        actions.act(VM1, "stop")
    assert not isinstance(raised.value, ProviderThrottled | ProviderAuthError)
    assert len(fake.calls) == 2  # retried once, as configured
    with pytest.raises(ProviderError, match="InternalServerError"):
        actions.describe(VM1)
    assert len(fake.calls) == 4
    vm = fake.vm(SUB, "rg-app", "vm-1")
    assert vm is not None and vm.power == "running"


def test_a_failed_operation_is_an_error(
    fake: FakeArmCompute, transport: RecordingTransport
) -> None:
    fake.fail_operations = True
    actions = compute(fake, transport)
    with pytest.raises(ProviderError, match="begin_start"):
        actions.act(VM1, "start")


def test_acting_on_a_vm_being_deleted_is_refused(
    fake: FakeArmCompute, transport: RecordingTransport
) -> None:
    fake.add(FakeVm(SUB, "rg-app", "vm-5", power="stopping", provisioning="deleting"))
    actions = compute(fake, transport)
    with pytest.raises(ProviderError, match="409 OperationNotAllowed"):
        actions.act(VM1.replace("vm-1", "vm-5"), "stop")
