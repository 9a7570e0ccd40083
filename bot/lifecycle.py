"""TTL workflow decisions, pure: which step is next, when the one after it is due, whether a
resource may be acted on right now, and how an extension moves an expiry.

The workflow of one resource::

    active --warn--> warned --act--> done                    (notify, stop, destroy)
    active --warn--> warned --notice--> due --act--> done    (notify-then-destroy)
    any open state --exemption approved--> exempt

A destroy needs a warning delivered at least ``grace`` before it; every act step is re-checked
against the provider and the database right before it happens (:func:`refusal`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.config_sections import LifecycleConfig
from bot.durations import parse_span, parse_until
from bot.errors import CommandError

ACTIVE, WARNED, DUE, DONE, EXEMPT = "active", "warned", "due", "done", "exempt"
# why an act step does not happen now (what refusal returns)
GONE = "it no longer exists"
TTL_CHANGED = "its TTL changed since the warning"
NOT_EXPIRED = "it has not expired"
IN_GRACE = "the grace period after the warning has not passed"
PROTECTED = "it is protected (tag or account)"
NOT_WARNED = "no warning was delivered"
LATER = (NOT_EXPIRED, IN_GRACE)  # not yet: the step waits and is tried again
Step = Literal["warn", "notice", "act"]
EXTEND_CHOICES = ("1d", "3d", "7d")


def next_step(state: str, action: str) -> Step | None:
    """The step an open workflow takes when its ``next_at`` comes."""
    if state == ACTIVE:
        return "warn"
    if state == WARNED:
        return "notice" if action == "notify-then-destroy" else "act"
    if state == DUE:
        return "act"
    return None


def provider_action(action: str) -> Literal["stop", "destroy"] | None:
    """What the act step asks the provider for (None: notify only)."""
    if action == "stop":
        return "stop"
    if action in ("destroy", "notify-then-destroy"):
        return "destroy"
    return None


def after_warning(*, action: str, expires_at: datetime, grace: timedelta,
                  now: datetime) -> datetime:
    """When the step after a warning delivered ``now`` is due.

    A stop or destroy waits for the expiry and for ``grace`` after the warning, whichever is
    later (a late warning still leaves the owner the grace period); a notice comes at expiry.
    """
    if action in ("destroy", "stop"):
        return max(expires_at, now + grace)
    return max(expires_at, now)


def after_notice(*, grace: timedelta, now: datetime) -> datetime:
    """notify-then-destroy: the destroy comes ``grace`` after the expiry notice."""
    return now + grace


@dataclass(frozen=True, slots=True)
class Recheck:
    """What was read right before acting."""

    planned_expiry: datetime | None  # the expiry the workflow was started for
    fresh_expiry: datetime | None  # the TTL resolved again from the database and live tags
    has_ttl: bool
    exists: bool
    protected: bool
    warned_at: datetime | None
    notified_at: datetime | None


def refusal(check: Recheck, *, action: str, grace: timedelta, now: datetime) -> str | None:
    """Why the act step must not happen now (None: go ahead)."""
    if not check.exists:
        return GONE
    if check.protected:
        return PROTECTED
    if not check.has_ttl or check.fresh_expiry != check.planned_expiry:
        return TTL_CHANGED
    if check.fresh_expiry is not None and check.fresh_expiry > now:
        return NOT_EXPIRED
    if provider_action(action) == "destroy":
        if check.warned_at is None:
            return NOT_WARNED
        if (check.notified_at or check.warned_at) + grace > now:
            return IN_GRACE
    return None


def is_protected(tags: Mapping[str, str], account: str, rules: LifecycleConfig) -> bool:
    """Protected tags (key and value, case-insensitive) or a protected account."""
    if account and account in rules.protected_accounts:
        return True
    normalised = {k.strip().lower(): v.strip().lower() for k, v in tags.items()}
    return any(
        normalised.get(key.strip().lower()) == value.strip().lower()
        for key, value in rules.protected_tags.items()
    )


def extended_expiry(current: datetime | None, text: str, *, now: datetime,
                    max_extension: str) -> datetime:
    """The expiry after ``extend R text``.

    A relative duration counts from the current expiry (from now if it has passed); an ISO
    date/time is taken as is. An extension never shortens and never reaches further than
    ``max_extension`` from now.
    """
    base = max(current, now) if current is not None else now
    value = text.strip()
    try:
        new = base + parse_span(value)
    except CommandError:
        new = parse_until(value, now=now)
    if current is not None and new <= current:
        raise CommandError(
            f"`{text}` would not extend it: it already expires {current:%Y-%m-%d %H:%M} UTC"
        )
    limit = now + parse_span(max_extension)
    if new > limit:
        raise CommandError(
            f"that is past the longest extension allowed ({max_extension} from now, "
            f"{limit:%Y-%m-%d %H:%M} UTC)"
        )
    return new


def retry_delay(attempts: int) -> timedelta:
    """Back-off between attempts of a step the provider failed: 2, 4, 8... minutes, at most 6 h."""
    return min(timedelta(minutes=2 ** max(1, attempts)), timedelta(hours=6))
