"""Process logging: text or JSON lines on stderr, with secrets scrubbed from every record.

``LOG_FORMAT=json`` writes one JSON object per line (``time``, ``level``, ``logger``,
``message``, plus ``exc_info`` with the traceback when there is one); ``text`` (the default)
writes ``time LEVEL logger message``. ``LOG_LEVEL`` sets the root level (INFO by default).

``ScrubSecrets`` sits on the handler, so it sees every record that reaches it, whichever logger
made it (the bot's, Bolt's, uvicorn's, the cloud SDKs'). It rewrites the message, the traceback
and the stack of each record: the values of the secret settings that are set become ``***``
wherever they are not part of a longer word, and
so does anything that looks like a credential whatever its origin: Slack tokens, ``Bearer``
tokens, ``Authorization`` header values, ``sha256=`` / ``v0=`` signatures and the password of a
URL such as ``postgresql://user:password@host/db``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from bot.settings import Settings

MASK = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# (pattern, replacement): each keeps the part that says what was there, and masks the value
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(xox[abposr]|xapp)-[A-Za-z0-9-]+"), rf"\1-{MASK}"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*"), rf"\1{MASK}"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"), rf"\1{MASK}"),
    (re.compile(r"(?i)\b(sha256=)[0-9a-f]{16,}"), rf"\1{MASK}"),
    (re.compile(r"\b(v0=)[0-9a-f]{64}\b"), rf"\1{MASK}"),
    # scheme://user:password@ -> scheme://user:***@ (database URLs, proxies, Basic auth URLs)
    (re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@'\"]*:)[^@\s/'\"]+@"), rf"\1{MASK}@"),
]


class ScrubSecrets(logging.Filter):
    """Masks the given secret values and credential-shaped text in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # longest first, so that a secret containing another is masked whole; only where it
        # stands alone (not inside a word), so a short secret such as `gs` leaves "bookings"
        # and "settings" readable
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._values = re.compile(
            "(?<![A-Za-z0-9_])(?:" + "|".join(re.escape(v) for v in values) + ")(?![A-Za-z0-9_])"
        ) if values else None

    def scrub(self, text: str) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: keep what logging would have shown
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # the formatter uses exc_text when it is set: render and scrub it here, once
            record.exc_text = self.scrub("".join(
                traceback.format_exception(*record.exc_info)).rstrip("\n"))
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


class _Handler(logging.StreamHandler[TextIO]):
    """The handler ``configure_logging`` installs (and replaces when called again)."""


def configure_logging(settings: Settings, *, stream: TextIO | None = None,
                      extra_secrets: Iterable[str] = ()) -> logging.Handler:
    """Log to ``stream`` (stderr) in ``settings.log_format`` at ``settings.log_level``, with the
    secret settings (and ``extra_secrets``) scrubbed; returns the handler installed on root."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ScrubSecrets([*settings.secret_values(), *extra_secrets]))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    return handler
