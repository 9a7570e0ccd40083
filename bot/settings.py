"""Process settings: the environment variables of DESIGN.md, read once by app.py."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///./finops-bot.db"
# the secrets that authenticate requests to us, and the length below which they are guessable
WEBHOOK_SECRETS = ("jira_webhook_secret", "github_webhook_secret", "gitlab_webhook_token",
                   "jenkins_webhook_token")
MIN_SECRET_LENGTH = 16


class Settings(BaseSettings):
    """Everything the process reads from its environment; the YAML config holds the rest."""

    # An empty variable is an unset one (`SLACK_BOT_TOKEN=` in a compose file, `PORT=`): the
    # default applies, rather than an empty token tried on Slack or "" refused as a port.
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    database_url: str = DEFAULT_DATABASE_URL
    finops_config: Path | None = None
    host: str = "127.0.0.1"
    port: int = 3000

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None

    jira_url: str | None = None
    jira_user: str | None = None
    jira_api_token: SecretStr | None = None
    jira_webhook_secret: SecretStr | None = None

    github_webhook_secret: SecretStr | None = None
    github_token: SecretStr | None = None
    gitlab_webhook_token: SecretStr | None = None
    gitlab_url: str | None = None
    gitlab_token: SecretStr | None = None
    jenkins_webhook_token: SecretStr | None = None

    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    def secret_values(self) -> list[str]:
        """The values of the secret settings that are set (for scrubbing them from logs)."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return [v.get_secret_value() for v in values
                if isinstance(v, SecretStr) and v.get_secret_value()]

    @property
    def uses_demo(self) -> bool:
        """True when no config file is given: the bundled demo config and data are used."""
        return self.finops_config is None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    def weak_secrets(self, others: Mapping[str, str] | None = None) -> list[str]:
        """The webhook secrets short enough to guess, and those of ``others`` (variable name
        -> value: the access hooks' keys), as warnings (given at start)."""
        values = {name.upper(): getattr(self, name) for name in WEBHOOK_SECRETS}
        given = {name: v.get_secret_value() for name, v in values.items() if v is not None}
        given.update(others or {})
        return [f"{name} is {len(value)} characters long, short enough to guess: use at least "
                f"{MIN_SECRET_LENGTH} random characters (`openssl rand -hex 32`)"
                for name, value in given.items() if len(value) < MIN_SECRET_LENGTH]

    def slack_gap(self) -> str | None:
        """What a partly configured Slack cannot do (warned at start), or None."""
        if self.slack_bot_token is None and self.slack_signing_secret is not None:
            return ("SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not: messages are "
                    "printed, not sent, and /slack/events is not served")
        no_way_in = self.slack_signing_secret is None and self.slack_app_token is None
        if self.slack_enabled and no_way_in:
            return ("SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (for /slack/events) "
                    "nor SLACK_APP_TOKEN (Socket Mode) is: messages are sent, but commands, "
                    "buttons and App Home never reach the bot")
        return None  # all of Slack, or none of it (the console, as on the demo)


def read_settings() -> Settings:
    """The settings from the environment; a value that is wrong is a ConfigError naming its
    variable (``PORT: Input should be a valid integer ... (got 'abc')``), not a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = "_".join(str(part) for part in error["loc"])
            secret = Settings.model_fields.get(field) is not None and "SecretStr" in str(
                Settings.model_fields[field].annotation)
            given = "a value not shown" if secret else repr(error["input"])
            problems.append(f"{field.upper()}: {error['msg']} (got {given})")
        raise ConfigError("environment: " + "; ".join(problems)) from None
