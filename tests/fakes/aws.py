"""moto in server mode on loopback: one server per test run, emptied before each test.

Use the fixtures by binding them in a test module (pytest finds fixtures by module globals)::

    from tests.fakes import aws as moto_fakes

    moto_server = moto_fakes.moto_server
    aws = moto_fakes.aws

``aws`` gives each test a reset server, dummy credentials in the environment and no real AWS
config files, so nothing can reach real AWS even if an endpoint were left unset.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

import boto3
import pytest
from moto.server import ThreadedMotoServer

from bot.config import AwsAccount
from providers.aws import AwsSource
from tests.fakes.http import Call, FakeServer, Reply

DEFAULT_ACCOUNT = "123456789012"  # the account moto's STS reports for any credentials

# settings that could point boto3 at real AWS or at other credentials
_AMBIENT = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


class MotoServer:
    """A running ThreadedMotoServer plus its control API (reset, queued Cost Explorer results)."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()

    def _post(self, path: str, body: Mapping[str, Any] | None = None) -> int:
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(
            self.endpoint_url + path,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
        return status

    def reset(self) -> None:
        """Forget every resource, object and queued result (moto's ``/moto-api/reset``)."""
        self._post("/moto-api/reset")

    def queue_cost_and_usage(
        self, results: Sequence[Mapping[str, Any]], *, account_id: str = DEFAULT_ACCOUNT
    ) -> None:
        """Queue GetCostAndUsage responses; each distinct request takes the next one in order.

        moto keys answers by the request body, so a repeated identical request gets the same
        answer and a follow-up request with a NextPageToken takes the next queued page.
        """
        status = self._post(
            "/moto-api/static/ce/cost-and-usage-results",
            {"account_id": account_id, "results": list(results)},
        )
        assert status == 201, status

    def session(self) -> boto3.Session:
        """A boto3 session with the dummy credentials (for setting up fixtures in tests)."""
        return boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )

    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client pointed at this server; close it when done."""
        return self.session().client(
            service,
            region_name=region,
            endpoint_url=self.endpoint_url,
        )

    def run_instance(self, region: str = "us-east-1", **tags: str) -> str:
        """Launch one EC2 instance (from an image moto ships) and return its id."""
        ec2 = self.client("ec2", region)
        try:
            pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
            spec = {"TagSpecifications": [{"ResourceType": "instance", "Tags": pairs}]}
            reply = ec2.run_instances(
                ImageId="ami-12c6146b", MinCount=1, MaxCount=1, **(spec if tags else {})
            )
            return str(reply["Instances"][0]["InstanceId"])
        finally:
            ec2.close()

    def instance_state(self, instance_id: str, region: str = "us-east-1") -> str:
        """The EC2 state name of an instance, as moto holds it."""
        ec2 = self.client("ec2", region)
        try:
            page = ec2.describe_instances(InstanceIds=[instance_id])
            return str(page["Reservations"][0]["Instances"][0]["State"]["Name"])
        finally:
            ec2.close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the whole run (starting one costs about a second)."""
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def aws(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[MotoServer]:
    """The moto server, emptied, with dummy credentials and no real AWS config in reach."""
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    moto_server.reset()
    yield moto_server


def ec2_error(status: int, code: str, message: str) -> Reply:
    """EC2's XML error answer (the Query protocol's ``Response/Errors/Error``)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        f"</Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    )
    return Reply(status, body.encode(), {"Content-Type": "text/xml;charset=UTF-8"})


def throttled() -> Reply:
    """What EC2 answers a caller over its request rate."""
    return ec2_error(503, "RequestLimitExceeded", "Request limit exceeded.")


def action_of(call: Call) -> str:
    """The EC2 Query API action of a call (``Action=StopInstances`` in the form body)."""
    form = parse_qs(call.body.decode()) if call.body else {}
    values = form.get("Action") or call.query.get("Action") or [""]
    return values[0]


class MotoProxy(FakeServer):
    """A loopback hop in front of moto: forwards every call to it, unless a failure queued with
    :meth:`FakeServer.fail_next` (EC2's throttling or auth errors, a 500) answers instead.

    moto serves EC2 faithfully but cannot be told to throttle; this puts the service's error
    answers on the wire for the real client, its retry handler and parser, and records calls.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream

    def handle(self, call: Call) -> Reply:
        query = f"?{urlencode(call.query, doseq=True)}" if call.query else ""
        request = urllib.request.Request(
            self.upstream + call.path + query,
            data=call.body if call.method not in ("GET", "HEAD") else None,
            method=call.method,
            headers={k: v for k, v in call.headers.items() if k not in ("host", "content-length")},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:  # moto's own error answers, passed on
            with exc:
                status, headers, body = exc.code, exc.headers, exc.read()
        return Reply(status, body, {"Content-Type": headers.get("Content-Type", "text/xml")})

    def actions(self) -> list[str]:
        """The EC2 actions received, in order."""
        return [action_of(c) for c in self.calls]


def account(server: MotoServer, **fields: Any) -> AwsAccount:
    """A configured AWS account named prod whose endpoint is the moto server."""
    return AwsAccount(provider="aws", name="prod", endpoint_url=server.endpoint_url, **fields)


@pytest.fixture
def source_for(aws: MotoServer) -> Iterator[Any]:
    """Makes ``AwsSource``s of the prod account (one attempt per call unless told), closed after
    the test; options as AwsSource takes them, other keywords are account fields."""
    made: list[AwsSource] = []

    def make(**fields: Any) -> AwsSource:
        options = {k: fields.pop(k) for k in ("session", "max_attempts", "clock") if k in fields}
        options.setdefault("max_attempts", 1)
        source = AwsSource(account(aws, **fields), **options)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()
