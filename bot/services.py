"""The container app.py builds once and hands to handlers, jobs and the CLI."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from bot.config import Config
from bot.settings import Settings
from providers.chat import ChatTransport
from providers.compute import Fleet

if TYPE_CHECKING:
    from providers.jira import TicketClient
    from providers.scm import ScmClient


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """Settings, config, database and the chat transport, plus the clock everything reads."""

    settings: Settings
    config: Config
    engine: Engine
    chat: ChatTransport
    clock: Callable[[], datetime] = field(default=utc_now)
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    jira: TicketClient | None = None  # when JIRA_URL is set
    hook_secrets: dict[str, str] = field(default_factory=dict)  # secret_env name -> HMAC key
    scm: dict[str, ScmClient] = field(default_factory=dict)  # "github" / "gitlab" -> client
    fleet: Fleet = field(default_factory=Fleet)  # stop/start/destroy per cloud
    scheduler_role: str = "off"  # off | standby | leader (handlers.scheduler.Leadership)

    def now(self) -> datetime:
        return self.clock()
