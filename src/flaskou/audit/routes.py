"""HTTP glue for reading the audit trail (role `admin`)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from flaskou.apikeys.scopes import ADMIN_READ
from flaskou.audit import service
from flaskou.audit.schemas import AuditPageOut, AuditQuery
from flaskou.auth import auth_required
from flaskou.roles.models import ADMIN_ROLE

bp = APIBlueprint("audit", __name__, url_prefix="/api/v1/audit", tag="Administration")


@bp.get("")
@auth_required(ADMIN_ROLE, scope=ADMIN_READ)
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.output(AuditPageOut)
@bp.doc(summary="The audit trail, newest first")
def list_audit_events(query: dict[str, Any]) -> Any:
    page = service.list_events(
        limit=query["limit"],
        cursor=query["cursor"],
        actor=query.get("actor"),
        action=query.get("action"),
    )
    return {"items": page.items, "next_cursor": page.next_cursor}
