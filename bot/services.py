"""The container app.py builds once and hands to handlers, jobs and the CLI."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from bot.config import Config
from bot.settings import Settings
from providers.chat import ChatTransport


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

    def now(self) -> datetime:
        return self.clock()
