"""Each compute provider's describe and act is counted (provider, call, outcome) and timed in
``bot.metrics``: real clients against the same loopback fakes as their own tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot import metrics
from bot.errors import ResourceGone
from tests.fakes import aws as moto_fakes
from tests.fakes.aws import MotoServer
from tests.fakes.azure_compute import FakeArmCompute, FakeVm, RecordingTransport
from tests.fakes.gcp_compute import FakeComputeEngine
from tests.integration import test_compute_aws as aws_tests
from tests.integration import test_compute_azure as azure_tests
from tests.integration import test_compute_gcp as gcp_tests

moto_server = moto_fakes.moto_server
aws = moto_fakes.aws
compute_for = aws_tests.compute_for
fake = gcp_tests.fake
_close_clients = gcp_tests._close_clients
_close_azure_clients = azure_tests._close_clients


class Counts:
    """Snapshot of the provider series; ``delta`` reads the change since the snapshot."""

    def __init__(self) -> None:
        self.before = self._values()

    @staticmethod
    def _values() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        values = {}
        for family in metrics.REGISTRY.collect():
            if family.name.startswith("finops_provider_call"):
                for sample in family.samples:
                    values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return values

    def delta(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return self._values().get(key, 0.0) - self.before.get(key, 0.0)

    def calls(self, provider: str, call: str, outcome: str) -> float:
        return self.delta("finops_provider_calls_total", provider=provider, call=call,
                          outcome=outcome)

    def timed(self, provider: str, call: str) -> float:
        return self.delta("finops_provider_call_seconds_count", provider=provider, call=call)


def test_aws_calls_are_counted_with_their_outcome(aws: MotoServer, compute_for: Any) -> None:
    instance = aws.run_instance(owner="alice@example.com")
    actions = compute_for()
    counts = Counts()
    assert actions.describe(instance) is not None
    actions.act(instance, "stop")
    actions.act(instance, "destroy")
    with pytest.raises(ResourceGone):
        actions.act("i-0123456789abcdef0", "stop")  # no such instance
    assert counts.calls("aws", "describe", "ok") == 1
    assert counts.calls("aws", "stop", "ok") == 1
    assert counts.calls("aws", "destroy", "ok") == 1
    assert counts.calls("aws", "stop", "gone") == 1
    assert counts.timed("aws", "stop") == 2 and counts.timed("aws", "describe") == 1


def test_gcp_calls_are_counted(fake: FakeComputeEngine) -> None:
    actions = gcp_tests.compute(fake)
    counts = Counts()
    assert actions.describe(gcp_tests.WEB) is not None
    actions.act(gcp_tests.WEB, "stop")
    assert counts.calls("gcp", "describe", "ok") == 1
    assert counts.calls("gcp", "stop", "ok") == 1
    assert counts.timed("gcp", "stop") == 1


@pytest.fixture
def azure_fake() -> Iterator[FakeArmCompute]:
    vm = FakeVm(azure_tests.SUB, "rg-app", "vm-1", tags={"owner": "alice@example.com"})
    with FakeArmCompute([vm], steps=1) as server:
        yield server
        server.assert_clean()


def test_azure_calls_are_counted(azure_fake: FakeArmCompute) -> None:
    actions = azure_tests.compute(azure_fake, RecordingTransport())
    counts = Counts()
    assert actions.describe(azure_tests.VM1) is not None
    actions.act(azure_tests.VM1, "stop")
    assert counts.calls("azure", "describe", "ok") == 1
    assert counts.calls("azure", "stop", "ok") == 1
    assert counts.timed("azure", "stop") == 1
