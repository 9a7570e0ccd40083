"""Composition root: read Settings, build storage, providers, chat and scheduler, and serve.

``python app.py`` is ``finops-bot run``.
"""

from __future__ import annotations

import logging
import sys

from bot.config import load_config
from bot.services import Services
from bot.settings import Settings
from providers.chat import ChatTransport, ConsoleTransport

log = logging.getLogger("finops-bot")


def build_chat(settings: Settings) -> ChatTransport:
    """Slack when a bot token is configured, else the console (messages are printed)."""
    if settings.slack_bot_token is None:
        return ConsoleTransport()
    from providers.slack import SlackTransport

    return SlackTransport(settings.slack_bot_token.get_secret_value(),
                          base_url=settings.slack_api_url)


def build_services(settings: Settings | None = None) -> Services:
    from storage.db import make_engine

    settings = settings or Settings()
    config = load_config(settings.finops_config)
    return Services(settings=settings, config=config, engine=make_engine(settings.database_url),
                    chat=build_chat(settings))


def ready_services(settings: Settings | None = None) -> Services:
    """Services with the schema checked (upgraded on SQLite) and the demo loaded if in use."""
    from bot.startup import prepare

    services = build_services(settings)
    prepare(services)
    return services


def serve(services: Services, *, host: str | None = None, port: int | None = None) -> None:
    """HTTP on HOST:PORT plus the scheduler, until interrupted."""
    import uvicorn

    from bot.startup import prepare
    from handlers.http import create_app
    from handlers.scheduler import build_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    prepare(services)
    scheduler = build_scheduler(services)
    scheduler.start()
    try:
        uvicorn.run(create_app(services), host=host or services.settings.host,
                    port=port or services.settings.port, log_level="info")
    finally:
        scheduler.shutdown(wait=False)


def main(argv: list[str] | None = None) -> int:
    from handlers.cli import main as cli_main

    args = sys.argv[1:] if argv is None else argv
    return cli_main(args or ["run"])


if __name__ == "__main__":
    sys.exit(main())
