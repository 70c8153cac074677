from __future__ import annotations

from apiflask import Schema, fields, validators

from flaskou.audit.service import ACTIONS
from flaskou.pagination import PageQuery, cursor_field, page_schema


class AuditQuery(PageQuery):
    cursor = cursor_field(("datetime", "uuid"))
    actor = fields.String(
        validate=validators.Length(max=39), metadata={"description": "Username of the actor."}
    )
    action = fields.String(validate=validators.OneOf(ACTIONS))


class AuditEventOut(Schema):
    id = fields.UUID(required=True)
    at = fields.DateTime(required=True)
    actor = fields.String(allow_none=True, required=True)
    action = fields.String(required=True)
    target = fields.String(allow_none=True, required=True)
    ip = fields.String(allow_none=True, required=True)
    detail = fields.Dict(required=True)


AuditPageOut = page_schema(AuditEventOut, "AuditPage")
