"""What the AWS cost source (``providers.aws``) and the AWS compute fleet
(``providers.compute_aws``) share: the boto3 clients of an account, the translation of botocore
failures into the bot's errors, and the billing id of an ARN.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    PartialCredentialsError,
)

from bot.config import AwsAccount
from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled

# LimitExceededException is Cost Explorer's rate limit, SlowDown is S3's
THROTTLING_CODES = frozenset(
    "Throttling ThrottlingException RequestLimitExceeded TooManyRequestsException RequestThrottled"
    " RequestThrottledException LimitExceededException SlowDown".split()
)
AUTH_CODES = frozenset(
    "AuthFailure UnrecognizedClientException InvalidClientTokenId AccessDenied ExpiredToken"
    " AccessDeniedException ExpiredTokenException InvalidAccessKeyId SignatureDoesNotMatch"
    " 403".split()  # S3's HEAD requests (download_file) carry only the HTTP status
)
_CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)

_ARN_RESOURCE = re.compile(r"([^:/]*)([:/]?)(.*)", re.DOTALL)


def translate_error(exc: ClientError | BotoCoreError, *, account: str, call: str) -> ProviderError:
    """The bot's error for a botocore failure: one line naming the account, call and AWS code."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        detail = " ".join(str(error.get("Message") or "").split())
        message = f"AWS account {account!r}: {call} failed: {code}" + (
            f" ({detail})" if detail else ""
        )
        if code in THROTTLING_CODES:
            return ProviderThrottled(message)
        if code in AUTH_CODES:
            return ProviderAuthError(message)
        return ProviderError(message)
    detail = " ".join(str(exc).split())
    message = f"AWS account {account!r}: {call} failed: {type(exc).__name__} ({detail})"
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return ProviderAuthError(message)
    return ProviderError(message)


def resource_id_from_arn(arn: str) -> tuple[str, str, str, str, str]:
    """(billing id, service code, region, account, resource type) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return arn, "", "", "", ""
    _, _, service, region, account, resource = parts
    # the resource part is "type/id", "type:id" or a bare name, whichever separator comes first
    match = _ARN_RESOURCE.fullmatch(resource)
    kind, sep, rest = match.groups() if match else (resource, "", "")
    if service == "ec2" and kind in ("instance", "volume"):
        return rest, service, region, account, kind
    if service == "s3" and not sep:
        return resource, service, region, account, "bucket"
    return arn, service, region, account, kind if sep else ""


class AwsClients:
    """The boto3 clients of one configured account: one per (service, region), made on first use
    with the account's endpoint and the bot's retry policy, and closed together."""

    def __init__(
        self, account: AwsAccount, *, session: boto3.Session | None = None, max_attempts: int = 5
    ) -> None:
        self.account = account
        self._session = session or boto3.Session()
        # botocore's "max_attempts" counts retries only; "total_max_attempts" includes the first
        # call, so max_attempts=1 here means one call and no retry. The "standard" mode retries
        # throttling (Throttling, RequestLimitExceeded...) and transient errors with exponential
        # backoff; what is still failing after the last attempt is raised.
        self._config = Config(retries={"mode": "standard", "total_max_attempts": max_attempts})
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        """The client of ``service`` in ``region`` (default: the account's first region)."""
        region = region or self.account.regions[0]
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._session.client(
                service,
                region_name=region,
                endpoint_url=self.account.endpoint_url,
                config=self._config,
            )
        return self._clients[key]

    @contextmanager
    def calling(self, call: str) -> Iterator[None]:
        """Translate botocore failures inside the block into the bot's errors."""
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, account=self.account.name, call=call) from exc

    def close(self) -> None:
        """Close the HTTP connections of every client made so far."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
