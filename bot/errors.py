"""The one exception tree of finops-bot.

    FinopsError                 anything the bot reports to a person instead of a traceback
    ├── ConfigError             a bad setting or YAML config (names the file and the key)
    ├── InputError              a bad input file or row (names the file, row and column)
    ├── CommandError            bad `/finops` command text (the message is shown to the caller)
    └── ProviderError           a cloud, chat or ticket API failed
        ├── ProviderAuthError   credentials refused
        ├── ProviderThrottled   rate limited; retry later
        ├── ProviderUnavailable not reached, or busy (503): the call was not taken
        └── ResourceGone        the resource or ticket acted on does not exist (any more)

Edges translate library exceptions into these with ``raise ... from exc``; the CLI and the HTTP
layer turn them into a one-line message or a status code.
"""

from __future__ import annotations


class FinopsError(Exception):
    """Base of every error the bot reports as a message rather than a traceback."""


class ConfigError(FinopsError):
    """The settings or the YAML config are invalid."""


class InputError(FinopsError):
    """An input file or record is malformed; the message names file, row and column."""


class CommandError(FinopsError):
    """A chat command could not be understood or is not allowed."""


class ProviderError(FinopsError):
    """A provider (cloud API, chat API, ticket system) failed."""


class ProviderAuthError(ProviderError):
    """The provider refused our credentials."""


class ProviderThrottled(ProviderError):
    """The provider rate-limited us; the call may succeed later."""


class ProviderUnavailable(ProviderError):
    """The provider did not take the call: it was not reached, or answered that it is
    unavailable. Unlike a timeout after sending, nothing was done, so the call may be made
    again later without doing it twice."""


class ResourceGone(ProviderError):
    """The resource to stop or start does not exist (any more), so destroying it is a no-op;
    or the ticket asked about is not there (Jira answers 404 for one it does not show)."""
