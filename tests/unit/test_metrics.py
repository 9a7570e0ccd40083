"""provider_call: one count per call with the outcome read from the error that left it."""

from __future__ import annotations

import pytest

from bot import metrics
from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled, ResourceGone


def _count(call: str, outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "finops_provider_calls_total", {"provider": "test", "call": call, "outcome": outcome})
    return value or 0.0


@pytest.mark.parametrize(("error", "outcome"), [
    (None, "ok"),
    (ResourceGone("gone"), "gone"),
    (ProviderThrottled("slow down"), "throttled"),
    (ProviderAuthError("refused"), "auth_error"),
    (ProviderError("boom"), "error"),
    (ValueError("a bug"), "error"),
])
def test_each_call_counts_once_with_its_outcome_and_errors_pass_through(
    error: Exception | None, outcome: str
) -> None:
    call = f"call-{outcome}-{type(error).__name__}"
    timed = "finops_provider_call_seconds_count"
    labels = {"provider": "test", "call": call}
    if error is None:
        with metrics.provider_call("test", call):
            pass
    else:
        with pytest.raises(type(error)), metrics.provider_call("test", call):
            raise error
    assert _count(call, outcome) == 1
    others = {"ok", "gone", "throttled", "auth_error", "error"} - {outcome}
    assert all(_count(call, other) == 0 for other in others)
    assert metrics.REGISTRY.get_sample_value(timed, labels) == 1
