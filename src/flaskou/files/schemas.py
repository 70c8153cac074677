from __future__ import annotations

from apiflask import Schema, fields, validators

from flaskou.pagination import PageQuery, cursor_field, page_schema


class FileUploadIn(Schema):
    file = fields.File(required=True, metadata={"description": "The file's content."})


class FileListQuery(PageQuery):
    cursor = cursor_field(("datetime", "uuid"))
    owner = fields.String(
        validate=validators.Length(max=39),
        metadata={"description": "Admins only: list this user's files."},
    )


class FileOut(Schema):
    id = fields.UUID(required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    owner = fields.String(required=True)
    created_at = fields.DateTime(required=True)


FilePageOut = page_schema(FileOut, "FilePage")


class UsageOut(Schema):
    used_bytes = fields.Integer(required=True)
    quota_bytes = fields.Integer(required=True, metadata={"description": "USER_QUOTA_BYTES"})
    max_upload_bytes = fields.Integer(required=True, metadata={"description": "MAX_UPLOAD_BYTES"})
