"""Composition root: read Settings, build storage, providers, chat and scheduler, and serve.

``python app.py`` is ``finops-bot run``.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.config import Config, load_config
from bot.errors import ConfigError, ProviderError
from bot.logs import configure_logging
from bot.services import Services
from bot.settings import Settings, read_settings
from providers.chat import ChatTransport, ConsoleTransport
from providers.compute import Fleet

if TYPE_CHECKING:
    from slack_bolt import App
    from starlette.applications import Starlette

    from providers.jira import TicketClient
    from providers.scm import ScmClient

log = logging.getLogger("finops-bot")


def build_chat(settings: Settings) -> ChatTransport:
    """Slack when a bot token is configured, else the console (messages are printed)."""
    if settings.slack_bot_token is None:
        return ConsoleTransport()
    from providers.slack import SlackTransport

    return SlackTransport(
        settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )


def config_path() -> Path | None:
    """The YAML config file named by FINOPS_CONFIG (None: the bundled demo)."""
    return read_settings().finops_config


def build_jira(settings: Settings) -> TicketClient | None:
    """The Jira client when JIRA_URL is set (it connects on first use)."""
    if settings.jira_url is None:
        return None
    if settings.jira_user is None or settings.jira_api_token is None:
        raise ConfigError("JIRA_URL needs JIRA_USER and JIRA_API_TOKEN too")
    from providers.jira import JiraClient

    return JiraClient(settings.jira_url, settings.jira_user,
                      settings.jira_api_token.get_secret_value())


def build_scm(settings: Settings, config: Config) -> dict[str, ScmClient]:
    """GitHub and GitLab clients for deploy enrichment, for those with a token."""
    clients: dict[str, ScmClient] = {}
    if settings.github_token is not None:
        from providers.scm import GitHubClient

        clients["github"] = GitHubClient(settings.github_token.get_secret_value(),
                                         base_url=config.deploys.github_api_url)
    if settings.gitlab_token is not None:
        if settings.gitlab_url is None:
            raise ConfigError("GITLAB_TOKEN needs GITLAB_URL too")
        from providers.scm import GitLabClient

        clients["gitlab"] = GitLabClient(settings.gitlab_url,
                                         settings.gitlab_token.get_secret_value())
    return clients


def build_fleet(config: Config) -> Fleet:
    """Stop/start/destroy for every configured cloud account (and the demo estate)."""
    from providers.compute import fleet_from_config

    fleet = fleet_from_config(config)
    if any(a.provider == "demo" for a in config.accounts):
        from providers.compute_demo import DemoCompute

        fleet = Fleet([*fleet.members, DemoCompute()])
    return fleet


def hook_secrets(config: Config) -> dict[str, str]:
    """The HMAC keys of the environments' HTTP hooks, from the variables their config names."""
    secrets: dict[str, str] = {}
    for env in config.environments:
        for index, hook in enumerate(env.hooks):
            name = hook.secret_env
            if name is None:
                continue
            value = os.environ.get(name)
            if not value:
                raise ConfigError(f"environments {env.name} hooks.{index}: the variable {name} "
                                  "(secret_env) is not set")
            secrets[name] = value
    return secrets


def build_services(settings: Settings | None = None) -> Services:
    from bot.owners import OwnerMapper
    from storage.db import make_engine

    settings = settings or read_settings()
    config = load_config(settings.finops_config)
    OwnerMapper.from_config(config)  # rules that would fail later fail now, at start
    return Services(
        settings=settings,
        config=config,
        engine=make_engine(settings.database_url),
        chat=build_chat(settings),
        jira=build_jira(settings),
        hook_secrets=hook_secrets(config),
        scm=build_scm(settings, config),
        fleet=build_fleet(config),
    )


@contextmanager
def cli_services(*, ready: bool = True, console: TextIO | None = None) -> Iterator[Services]:
    """Services for one CLI command; ``ready``: schema checked and demo loaded; ``console``:
    where the console transport prints (for a command whose stdout is data). Disposed
    after."""
    from bot.startup import prepare
    from providers.chat import ConsoleTransport

    services = build_services()
    if console is not None and isinstance(services.chat, ConsoleTransport):
        services.chat.stream = console
    try:
        if ready:
            prepare(services)
        yield services
    finally:
        services.fleet.close()
        services.engine.dispose()


def build_asgi(services: Services) -> Starlette:
    """The ASGI app: health, metrics, ``/webhooks/jira`` and the deploy webhooks (GitHub,
    GitLab, Jenkins), plus ``/slack/events`` when Slack is configured."""
    from handlers.deploy_hooks import deploy_routes
    from handlers.http import create_app
    from handlers.webhooks import jira_route

    routes = [jira_route(services), *deploy_routes(services)]
    if (gap := services.settings.slack_gap()) is not None:
        log.warning("%s", gap)
    for weak in services.settings.weak_secrets(services.hook_secrets):
        log.warning("%s", weak)
    bolt = build_bolt(services)
    if bolt is not None and services.settings.slack_signing_secret is not None:
        from handlers.slack import slack_route

        secret = services.settings.slack_signing_secret.get_secret_value()
        routes.append(slack_route(bolt, signing_secret=secret))
    return create_app(services, routes)


def build_bolt(services: Services) -> App | None:
    """The Bolt app when a bot token is configured."""
    settings = services.settings
    if settings.slack_bot_token is None:
        return None
    from handlers.slack import build_bolt_app

    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    return build_bolt_app(
        services,
        token=settings.slack_bot_token.get_secret_value(),
        signing_secret=secret,
        base_url=settings.slack_api_url,
    )


def settle_heap() -> None:
    """Before serving: what is built so far (modules, config, listeners) lives as long as the
    process, so keep the collector's full passes, which hold the GIL and with it every request
    (100-150 ms each with the app loaded), from walking it again."""
    gc.collect()
    gc.freeze()


def serve(services: Services, *, host: str | None = None, port: int | None = None) -> None:
    """HTTP on HOST:PORT plus the scheduler (and Socket Mode when SLACK_APP_TOKEN is set)."""
    import uvicorn

    from bot.startup import prepare
    from handlers.scheduler import Leadership

    configure_logging(services.settings, extra_secrets=services.hook_secrets.values())
    prepare(services)
    asgi = build_asgi(services)
    socket_mode = None
    if services.settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler
        from slack_sdk.errors import SlackClientError

        bolt = build_bolt(services)
        if bolt is None:
            raise ConfigError("SLACK_APP_TOKEN needs SLACK_BOT_TOKEN too")
        socket_mode = SocketModeHandler(bolt, services.settings.slack_app_token.get_secret_value())
        try:
            socket_mode.connect()
        except (SlackClientError, OSError) as exc:  # refused, unreachable, invalid_auth, ...
            socket_mode.close()
            raise ProviderError(f"Slack Socket Mode (SLACK_APP_TOKEN) could not connect: "
                                f"{type(exc).__name__}: {exc}") from None
    leadership = Leadership(services)
    leadership.start()
    settle_heap()
    try:
        uvicorn.run(
            asgi,
            host=host or services.settings.host,
            port=port or services.settings.port,
            log_level="info",
            log_config=None,  # uvicorn's records go to the root handler: same format, scrubbed
        )
    finally:
        leadership.stop()
        if socket_mode is not None:
            socket_mode.close()


def main(argv: list[str] | None = None) -> int:
    """``python app.py [OPTIONS]`` is ``finops-bot run [OPTIONS]``; ``python app.py COMMAND ...``
    and ``python app.py --help`` are the whole ``finops-bot`` command line."""
    from handlers.cli import main as cli_main

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0].startswith("-") and args[0] != "--help":
        args = ["run", *args]
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
