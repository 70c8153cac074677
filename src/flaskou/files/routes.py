"""HTTP glue for files: streamed upload, listing, metadata, download, delete."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, request

from flaskou.api import streams_body
from flaskou.apikeys.scopes import FILES_READ, FILES_WRITE
from flaskou.auth import auth_required, current_account, current_actor
from flaskou.errors import DomainError
from flaskou.extensions import db
from flaskou.files import service
from flaskou.files.names import content_disposition
from flaskou.files.schemas import FileListQuery, FileOut, FilePageOut, FileUploadIn, UsageOut
from flaskou.files.storage import current_storage
from flaskou.files.upload import (
    UploadTooLarge,
    boundary_of,
    drain,
    no_file_part,
    receive_file,
)
from flaskou.openapi import answers

bp = APIBlueprint("files", __name__, url_prefix="/api/v1/files", tag="Files")

# Past this much excess, a client is not worth waiting for: answer and close.
DRAIN_LIMIT = 1024 * 1024 * 1024


class RangeNotSatisfiable(DomainError):
    status = 416
    title = "Range Not Satisfiable"
    slug = "range-not-satisfiable"


def _if_range_holds(etag: str) -> bool:
    """RFC 9110 13.1.5: a Range is honoured only when If-Range is absent or names
    the current representation by a strong ETag. A weak ETag, a date (flaskou
    sends no Last-Modified) or anything unparsable means: send the whole file."""
    raw = request.headers.get("If-Range")
    if raw is None:
        return True
    raw = raw.strip()
    return not raw.startswith("W/") and request.if_range.etag == etag


def _multipart_body(view: Any) -> Any:
    """Document the multipart body without letting a parser spool it first."""
    spec = view.__dict__.setdefault("_spec", {})
    spec["body"] = FileUploadIn()
    spec["content_type"] = "multipart/form-data"
    return streams_body(view)


def _content(description: str, *, partial: bool = False) -> dict[str, Any]:
    """A download answer: any media type (the one given at upload), as bytes."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    headers: dict[str, Any] = {
        "ETag": {"required": True, "schema": {"type": "string"}},
        "Content-Disposition": {"required": True, "schema": {"type": "string"}},
    }
    if partial:
        headers["Content-Range"] = {"required": True, "schema": {"type": "string"}}
    return {
        "description": description,
        "content": {"application/octet-stream": binary, "*/*": binary},
        "headers": headers,
    }


def _upload_error(error: DomainError) -> DomainError:
    """Let the client finish sending before it reads the answer."""
    if error.status == 413:
        error.headers["Connection"] = "close"
    drain(request.stream, DRAIN_LIMIT)
    return error


@bp.post("")
@auth_required(scope=FILES_WRITE)
@_multipart_body
@bp.output(
    FileOut,
    status_code=201,
    links={
        "GetFile": {"operationId": "get_file", "parameters": {"file_id": "$response.body#/id"}},
        "DownloadFile": {
            "operationId": "download_file",
            "parameters": {"file_id": "$response.body#/id"},
        },
        "DeleteFile": {
            "operationId": "delete_file",
            "parameters": {"file_id": "$response.body#/id"},
        },
    },
)
@bp.doc(
    summary="Upload a file (multipart field `file`), streamed to storage",
    description="The body has exactly one part, `file`; any other part answers 422.",
    responses=answers(
        {
            201: {
                "description": "Stored",
                "headers": {
                    "Location": {
                        "description": "The new file's URL.",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                },
            },
            413: "Over MAX_UPLOAD_BYTES or the quota (detail says which)",
            422: "No `file` part, an empty filename, another part, or a malformed multipart body",
            507: "The server's storage is full; nothing was kept",
        }
    ),
)
def upload_file() -> Any:
    settings = current_app.config["SETTINGS"]
    user = current_account()
    storage = current_storage()
    try:
        if request.mimetype != "multipart/form-data":
            raise no_file_part()
        boundary = boundary_of(request.mimetype_params)
        if boundary is None:
            raise no_file_part()
        if request.content_length and request.content_length > settings.max_upload_bytes:
            raise UploadTooLarge(settings.max_upload_bytes)
        allowance = max(0, settings.user_quota_bytes - service.bytes_used(user))
        # The body may take minutes to arrive, and a gevent worker serves any
        # number of uploads at once: hand the database connection back to the
        # pool while waiting for it, or a few slow uploads would take every
        # connection the other requests need. What was loaded stays readable.
        db.session.close()
        received = receive_file(
            request.stream,
            boundary=boundary,
            storage=storage,
            max_request_bytes=settings.max_upload_bytes,
            allowance=allowance,
            content_length=request.content_length,
        )
    except DomainError as error:
        raise _upload_error(error) from None
    stored = service.save_upload(
        user, received, storage=storage, quota=settings.user_quota_bytes, actor=current_actor()
    )
    return stored, 201, {"Location": f"/api/v1/files/{stored.id}"}


@bp.get("")
@auth_required(scope=FILES_READ)
@bp.input(FileListQuery, location="query", arg_name="query")
@bp.output(FilePageOut)
@bp.doc(
    summary="The caller's files, newest first (admins may pass `owner`)",
    responses=answers(
        {
            403: "`owner` names another user and the caller is not an admin",
            404: "`owner` names no user",
        }
    ),
)
def list_files(query: dict[str, Any]) -> Any:
    page = service.list_files(
        current_account(), limit=query["limit"], cursor=query["cursor"], owner=query.get("owner")
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@bp.get("/usage")
@auth_required(scope=FILES_READ)
@bp.output(UsageOut)
@bp.doc(summary="The caller's storage: bytes used, quota and largest upload")
def file_usage() -> Any:
    settings = current_app.config["SETTINGS"]
    return {
        "used_bytes": service.bytes_used(current_account()),
        "quota_bytes": settings.user_quota_bytes,
        "max_upload_bytes": settings.max_upload_bytes,
    }


@bp.get("/<uuid:file_id>")
@auth_required(scope=FILES_READ)
@bp.output(FileOut)
@bp.doc(summary="A file's metadata", responses=answers({404: "No such file of the caller's"}))
def get_file(file_id: str) -> Any:
    return service.get_file(current_account(), file_id)


@bp.get("/<uuid:file_id>/content")
@auth_required(scope=FILES_READ)
@bp.doc(
    summary="Download a file (ETag, If-None-Match, Range)",
    responses=answers(
        {
            200: _content("The bytes, with the media type given at upload"),
            206: _content("Part of the bytes (a single Range)", partial=True),
            304: {"description": "Not modified (If-None-Match names the current ETag)"},
            404: "No such file of the caller's",
            416: "Range not satisfiable (Content-Range says the size)",
        }
    ),
)
def download_file(file_id: str) -> Response:
    stored = service.get_file(current_account(), file_id)
    etag = stored.sha256
    headers = {
        "Content-Disposition": content_disposition(stored.filename),
        # Opened in a browser anyway, stored content runs nothing (see headers.py for the rest).
        "Content-Security-Policy": "sandbox; frame-ancestors 'none'",
        "Accept-Ranges": "bytes",
    }
    if request.if_none_match.contains(etag):
        response = Response(status=304, headers=headers)
        response.set_etag(etag)
        return response
    start, length, status = 0, stored.size, 200
    ranges = request.range
    range_applies = ranges is not None and _if_range_holds(etag)
    if ranges is not None and range_applies and len(ranges.ranges) == 1:
        span = ranges.range_for_length(stored.size)
        if span is None:
            raise RangeNotSatisfiable(
                f"The file has {stored.size} bytes.",
                headers={"Content-Range": f"bytes */{stored.size}"},
            )
        start, stop = span
        length, status = stop - start, 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{stored.size}"
    body = current_storage().read(stored.storage_key, start, length)
    response = Response(
        body, status=status, headers=headers, mimetype=stored.content_type, direct_passthrough=True
    )
    response.content_length = length
    response.set_etag(etag)
    return response


@bp.delete("/<uuid:file_id>")
@auth_required(scope=FILES_WRITE)
@bp.output({}, status_code=204)
@bp.doc(
    summary="Delete a file and its content",
    responses=answers({404: "No such file of the caller's"}),
)
def delete_file(file_id: str) -> tuple[str, int]:
    service.delete_file(
        current_account(), file_id, storage=current_storage(), actor=current_actor()
    )
    return "", 204
