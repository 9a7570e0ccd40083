"""A small threaded HTTP server on loopback that service fakes build on.

A fake subclasses :class:`FakeServer` and implements :meth:`FakeServer.handle`, which gets one
:class:`Call` (method, path, query, headers, body) and returns a :class:`Reply`. The base records
every call, lets a test queue canned failures with :meth:`FakeServer.fail_next`, and keeps the
paths nothing handled in ``unhandled`` (and its own crashes in ``crashes``) so that
:meth:`FakeServer.assert_clean` proves the real client called only what the fake implements.

    with MyFake() as fake:          # listens on 127.0.0.1, a free port
        client = Client(base_url=fake.url)
        ...
        assert fake.calls[0].path == "/v1/things"
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Call:
    """One request as the fake received it."""

    method: str
    path: str  # without the query string, still percent-encoded
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    """What the fake answers: a status, a body (bytes, str, or JSON-able) and headers."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json; charset=UTF-8"


def json_reply(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status=status, body=body, headers=dict(headers or {}))


@dataclass
class _Failure:
    reply: Reply | None  # None: the usual answer, after ``delay``
    times: int | None  # None: for ever
    matches: Callable[[Call], bool]
    delay: float = 0.0


class Serving:
    """Runs a loopback HTTP server on a daemon thread; ``stop`` shuts it down and waits for it.

    A fake's ``start`` builds its server, hands it to :meth:`serve` and returns itself.
    """

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def serve(self, server: ThreadingHTTPServer) -> None:
        server.daemon_threads = True
        self._server = server
        # A short poll interval keeps stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__
        )
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class FakeServer(Serving):
    """Base of the loopback fakes: start, record, inject failures, stop cleanly."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.unhandled: list[Call] = []
        self.crashes: list[str] = []  # exceptions raised by handle(): bugs in the fake
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()

    # --- what subclasses implement -------------------------------------------------------

    def handle(self, call: Call) -> Reply:
        """Answer one call; call :meth:`not_found` for paths the fake does not implement."""
        return self.not_found(call)

    def not_found_body(self, call: Call) -> Any:
        """The service's own 404 body; subclasses override it with the real shape."""
        return {"error": {"code": 404, "message": f"no route for {call.method} {call.path}"}}

    def not_found(self, call: Call) -> Reply:
        with self._lock:
            self.unhandled.append(call)
        return Reply(404, self.not_found_body(call))

    # --- test controls ------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(
        self,
        reply: Reply,
        *,
        times: int | None = 1,
        method: str | None = None,
        path_contains: str | None = None,
        when: Callable[[Call], bool] | None = None,
    ) -> None:
        """Answer the next ``times`` matching calls (None: all of them) with ``reply``."""
        self._add_failure(reply, times, method, path_contains, when)

    def slow_next(self, seconds: float, *, times: int | None = 1, method: str | None = None,
                  path_contains: str | None = None) -> None:
        """Answer the next ``times`` matching calls as usual, ``seconds`` late."""
        self._add_failure(None, times, method, path_contains, None, delay=seconds)

    def _add_failure(self, reply: Reply | None, times: int | None, method: str | None,
                     path_contains: str | None, when: Callable[[Call], bool] | None,
                     delay: float = 0.0) -> None:
        def matches(call: Call) -> bool:
            return (
                (method is None or call.method == method)
                and (path_contains is None or path_contains in call.path)
                and (when is None or when(call))
            )

        with self._lock:
            self._failures.append(_Failure(reply, times, matches, delay))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def assert_clean(self) -> None:
        """Fail if the client called a path the fake lacks, or the fake itself crashed."""
        assert not self.crashes, f"the fake crashed: {self.crashes}"
        unknown = [f"{c.method} {c.path}" for c in self.unhandled]
        assert not unknown, f"calls the fake does not implement: {unknown}"

    def calls_to(self, method: str, path_contains: str = "") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and path_contains in c.path]

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        self.serve(ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self)))
        return self

    # --- plumbing -----------------------------------------------------------------------

    def _dispatch(self, call: Call) -> Reply:
        with self._lock:
            self.calls.append(call)
            failure = next((f for f in self._failures if f.matches(call)), None)
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times == 0:
                    self._failures.remove(failure)
        if failure is not None:
            time.sleep(failure.delay)
            if failure.reply is not None:
                return failure.reply
        return self.handle(call)


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so no keep-alive thread outlives stop().
        protocol_version = "HTTP/1.0"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            call = Call(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            try:
                reply = fake._dispatch(call)
            except Exception as exc:  # noqa: BLE001 - kept in ``crashes`` for assert_clean()
                fake.crashes.append(f"{call.method} {call.path}: {exc!r}")
                reply = Reply(500, {"error": {"code": 500, "message": f"fake crashed: {exc!r}"}})
            payload, content_type = reply.encoded()
            self.send_response(reply.status)
            headers = {"Content-Type": content_type, **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the calls list is the log

    return Handler
