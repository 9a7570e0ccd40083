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

    base = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    return Starlette(routes=base + list(routes or []))
