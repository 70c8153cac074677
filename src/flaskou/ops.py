"""Operational endpoints: liveness and readiness."""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIBlueprint
from flask import current_app
from sqlalchemy import text

from flaskou.extensions import db, no_database
from flaskou.openapi import answers

log = logging.getLogger(__name__)

bp = APIBlueprint("ops", __name__, tag="Operations")


def _check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception as exc:  # any failure means "not ready", never a 500
        db.session.rollback()
        log.warning("readiness: database check failed: %s", exc.__class__.__name__)
        return "unavailable"
    return "ok"


def _check_redis() -> str:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return "not configured"
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
    except Exception as exc:  # any failure means "not ready"
        log.warning("readiness: redis check failed: %s", exc.__class__.__name__)
        return "unavailable"
    return "ok"


def _check_storage() -> str:
    from flaskou.files.storage import current_storage

    try:
        current_storage().check()
    except Exception as exc:  # any failure means "not ready"
        log.warning("readiness: storage check failed: %s", exc.__class__.__name__)
        return "unavailable"
    return "ok"


HEALTH = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["ok"]}},
    "required": ["status"],
}
READINESS = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "checks": {
            "type": "object",
            "description": "Each backing service: `ok`, `unavailable` or `not configured`.",
            "additionalProperties": {
                "type": "string",
                "enum": ["ok", "unavailable", "not configured"],
            },
        },
    },
    "required": ["status", "checks"],
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@bp.get("/healthz")
@no_database
@bp.doc(summary="Liveness: the process serves", responses=answers({200: _json(HEALTH, "Serving")}))
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/readyz")
# It asks the database itself, and says so in a 503 of its own (not a problem).
@no_database
@bp.doc(
    summary="Readiness: the database and every configured backing service answer",
    responses=answers(
        {
            200: _json(READINESS, "Ready"),
            503: _json(READINESS, "A backing service does not answer"),
        }
    ),
)
def readyz() -> tuple[dict[str, Any], int]:
    checks = {
        "database": _check_database(),
        "redis": _check_redis(),
        "storage": _check_storage(),
    }
    ready = all(value in {"ok", "not configured"} for value in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503
