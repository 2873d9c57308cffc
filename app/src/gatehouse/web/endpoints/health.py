"""Health: /health (JSON for people and monitors), /health/live, /health/ready."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import peewee
from fastapi import APIRouter, Request

from gatehouse import __version__
from gatehouse.errors import KeySetError
from gatehouse.store.migrate import pending
from gatehouse.web import routes
from gatehouse.web.answers import json_answer
from gatehouse.web.common import gh

router = APIRouter(tags=["operations"])


def _database_ok(state) -> tuple[bool, float]:
    started = time.perf_counter()
    try:
        state.database.execute_sql("SELECT 1").fetchone()
        return True, (time.perf_counter() - started) * 1000
    except peewee.PeeweeException:
        return False, 0.0


@router.get(routes.HEALTH, summary="Service health with dependencies")
async def health(request: Request):
    state = gh(request)
    db_ok, db_ms = _database_ok(state)
    if not state.redis.configured:
        cache = {"status": "not_configured"}
    else:
        started = time.perf_counter()
        cache_ok = state.redis.ping()
        cache = {"status": "connected" if cache_ok else "disconnected"}
        if cache_ok:
            cache["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    status = "healthy"
    if not db_ok:
        status = "unhealthy"
    elif cache["status"] == "disconnected":
        status = "degraded"
    body = {
        "status": status,
        "service": "gatehouse",
        "version": __version__,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "dependencies": {
            "database": {
                "status": "connected" if db_ok else "disconnected",
                **({"latency_ms": round(db_ms, 2)} if db_ok else {}),
            },
            "cache": cache,
        },
    }
    return json_answer(body, status=503 if status == "unhealthy" else 200, headers={"Cache-Control": "no-store"})


@router.get(routes.HEALTH_LIVE, summary="Liveness: the process answers")
async def live():
    return json_answer({"status": "alive"}, headers={"Cache-Control": "no-store"})


@router.get(routes.HEALTH_READY, summary="Readiness: database answers, schema current, a signing key")
async def ready(request: Request):
    state = gh(request)
    problems = []
    db_ok, _ = _database_ok(state)
    if not db_ok:
        problems.append("database unreachable")
    else:
        try:
            waiting = pending()
        except peewee.PeeweeException:
            waiting = ["unknown"]
        if waiting:
            problems.append("migrations pending: " + ", ".join(waiting))
    try:
        _ = state.keys.active
    except KeySetError as error:
        problems.append(str(error))
    if problems:
        return json_answer(
            {"status": "not_ready", "problems": problems}, status=503, headers={"Cache-Control": "no-store"}
        )
    return json_answer({"status": "ready"}, headers={"Cache-Control": "no-store"})
