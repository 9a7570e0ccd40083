"""Who is an admin: the config's ``admins`` (emails) and the members of its ``admin_groups``
(Slack user groups). Every "admins only" decision goes through ``is_admin``.

Group members come from ``usergroups.users.list`` through the chat transport (which keeps them
for a few minutes) and are matched by email through the identity cache. Whoever acts from Slack
is in that cache before any check runs: their user id was turned into an email there
(``users.info``) and cached. A group that cannot be listed (unknown id, missing scope, Slack
down) grants nothing and is logged: the check fails closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from bot.config import Config
from bot.errors import ProviderError
from storage import identity
from storage.db import session_scope

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

GroupMembers = Callable[[str], Collection[str]]
"""User group id -> the emails of its members (lower case)."""


def is_admin(config: Config, email: str, *, group_members: GroupMembers | None = None) -> bool:
    """``email`` is in ``config.admins`` (any case), or a member of one of the
    ``config.admin_groups`` when ``group_members`` can tell."""
    wanted = email.strip().lower()
    if not wanted:
        return False
    if wanted in {a.strip().lower() for a in config.admins}:
        return True
    if group_members is None:
        return False
    return any(wanted in group_members(group) for group in config.admin_groups)


def who_may(config: Config, team: str | None, *named: tuple[str | None, str]) -> str:
    """Who may act, for the person refused: ``bob@example.com (the owner),
    alice@example.com (manager of team platform) or an admin`` from ``(email, role)`` pairs
    (an empty email is left out) and ``team``'s manager."""
    people = [(email, role) for email, role in named if email]
    cfg = config.teams.get(team or "")
    if cfg is not None and cfg.manager and cfg.manager not in (e for e, _ in people):
        people.append((cfg.manager, f"manager of team {team}"))
    listed = ", ".join(f"{email} ({role})" for email, role in people)
    return f"{listed} or an admin" if listed else "an admin"


def group_members(services: Services) -> GroupMembers | None:
    """The members of a user group, through ``services.chat`` and the identity cache (None
    when the config names no admin groups: nothing to ask)."""
    if not services.config.admin_groups:
        return None

    def members(group_id: str) -> set[str]:
        try:
            user_ids = services.chat.usergroup_members(group_id)
        except ProviderError as exc:
            log.warning("admin group %s cannot be listed, so it grants nothing: %s",
                        group_id, exc)
            return set()
        with session_scope(services.engine) as session:
            return {e.lower() for e in identity.emails_of(session, user_ids=user_ids)}

    return members
