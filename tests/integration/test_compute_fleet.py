"""The fleet built from the config: one member per configured cloud, each a real client
against its loopback fake (moto for AWS, the ARM and Compute Engine fakes)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.pipeline.policies import HeadersPolicy
from google.oauth2.credentials import Credentials

from bot.config import Config, parse_config
from providers.compute import AccountGroup, ComputeActions, fleet_from_config
from providers.compute_aws import AwsCompute
from providers.compute_azure import AzureCompute
from providers.compute_gcp import CALL_RETRY, GcpCompute
from tests.fakes import aws as moto_fakes
from tests.fakes.aws import MotoServer
from tests.fakes.azure_compute import FakeArmCompute, FakeVm, NoToken, RecordingTransport
from tests.fakes.gcp_compute import FakeComputeEngine, FakeInstance

moto_server = moto_fakes.moto_server
aws = moto_fakes.aws

SUB = "00000000-0000-0000-0000-000000000001"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-1"
GCE = "//compute.googleapis.com/projects/proj-a/zones/europe-west1-b/instances/web-1"


@pytest.fixture
def arm() -> Iterator[FakeArmCompute]:
    with FakeArmCompute([FakeVm(SUB, "rg-app", "vm-1")]) as fake:
        yield fake
        fake.assert_clean()


@pytest.fixture
def gce() -> Iterator[FakeComputeEngine]:
    with FakeComputeEngine([FakeInstance("proj-a", "europe-west1-b", "web-1")]) as fake:
        yield fake
        fake.assert_clean()


def config(aws: MotoServer, arm: FakeArmCompute, gce: FakeComputeEngine) -> Config:
    moto = aws.endpoint_url
    return parse_config(
        textwrap.dedent(
            f"""
            accounts:
              - {{provider: aws, name: us, regions: [us-east-1], endpoint_url: "{moto}"}}
              - {{provider: aws, name: eu, regions: [eu-west-1], endpoint_url: "{moto}"}}
              - provider: azure
                name: az
                scope: /subscriptions/{SUB}
                endpoint_url: "{arm.url}"
              - provider: gcp
                name: gcp
                bigquery_table: billing.export.gcp_billing_export_resource_v1_0
                compute_endpoint_url: "{gce.url}"
              - {{provider: focus, name: files, path: costs.csv}}
            """
        ),
        source="test.yaml",
    )


def test_each_cloud_gets_its_member_and_every_member_acts(
    aws: MotoServer, arm: FakeArmCompute, gce: FakeComputeEngine
) -> None:
    fleet = fleet_from_config(
        config(aws, arm, gce),
        azure={
            "credential": NoToken(),
            "client_options": {
                "authentication_policy": HeadersPolicy({"Authorization": "Bearer test"}),
                "transport": RecordingTransport(),
            },
        },
        gcp={
            "credentials": Credentials(token="test-token"),
            "retry": CALL_RETRY.with_delay(initial=0.01, maximum=0.02).with_timeout(0.5),
        },
        aws={"max_attempts": 1},
    )
    try:
        assert fleet
        ec2 = aws.run_instance("eu-west-1")
        members = {rid: fleet.for_resource(rid) for rid in (ec2, VM, GCE)}
        assert isinstance(members[ec2], AccountGroup)  # two AWS accounts: whichever sees it
        assert isinstance(members[VM], AzureCompute)
        assert isinstance(members[GCE], GcpCompute)
        assert fleet.for_resource("costs.csv/line-1") is None
        for resource_id, member in members.items():
            assert isinstance(member, ComputeActions)
            live = member.describe(resource_id)
            assert live is not None and live.state in ("pending", "running"), resource_id
            member.act(resource_id, "stop")
            live = member.describe(resource_id)
            assert live is not None and live.state == "stopped", resource_id
        assert aws.instance_state(ec2, "eu-west-1") == "stopped"
        group = members[ec2]
        assert group is not None and group.describe("i-0123456789abcdef0") is None
    finally:
        fleet.close()


def test_one_account_of_a_cloud_is_its_own_member(aws: MotoServer) -> None:
    fleet = fleet_from_config(
        parse_config(
            f'accounts: [{{provider: aws, name: us, endpoint_url: "{aws.endpoint_url}"}}]',
            source="test.yaml",
        )
    )
    try:
        assert isinstance(fleet.for_resource("i-0123456789abcdef0"), AwsCompute)
    finally:
        fleet.close()


def test_without_cloud_accounts_the_fleet_is_empty_and_imports_no_cloud_sdk() -> None:
    script = textwrap.dedent(
        """
        import sys
        from bot.config import parse_config
        from providers.compute import fleet_from_config
        text = "accounts: [{provider: focus, name: f, path: costs.csv}]"
        fleet = fleet_from_config(parse_config(text, source="t.yaml"))
        loaded = {m.split(".")[0] for m in sys.modules} & {"azure", "google", "boto3"}
        print(bool(fleet), sorted(loaded))
        """
    )
    root = Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True,
        timeout=60,
    )
    assert done.stdout.split("\n")[0] == "False []"
