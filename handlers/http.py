"""The ASGI app: health, metrics, and the routes each integration registers."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.services import Services
from storage.db import DATABASE_DOWN

RETRY_AFTER_SECONDS = 30


def create_app(services: Services, routes: list[Route] | None = None) -> Starlette:
    """Starlette app with ``/healthz``, ``/metrics`` and the given integration routes."""

    def _db_ok() -> bool:
        try:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # any driver error means "not healthy"; the body says so
            return False

    async def healthz(_: Request) -> Response:
        ok = await asyncio.to_thread(_db_ok)
        status = 200 if ok else 503
        metrics.HTTP_REQUESTS.labels(path="/healthz", status=str(status)).inc()
        return JSONResponse({"status": "ok" if ok else "database unavailable",
                             "scheduler": services.scheduler_role}, status_code=status)

    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def database_down(request: Request, exc: Exception) -> Response:
        # A webhook that finds the database down is not lost: its transaction rolled back, so
        # its sender's retry (or redelivery, same delivery id) is processed as new.
        metrics.HTTP_REQUESTS.labels(path=request.url.path, status="503").inc()
        return JSONResponse({"status": "database unavailable", "retry_after": RETRY_AFTER_SECONDS},
                            status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    base = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    return Starlette(routes=base + list(routes or []),
                     exception_handlers=dict.fromkeys(DATABASE_DOWN, database_down))
