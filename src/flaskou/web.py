"""The single-page web app: index.html at / and at every client-side route."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.routing import PathConverter

bp = Blueprint("web", __name__)

# The web app runs no inline script or style; everything comes from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


class ClientRouteConverter(PathConverter):
    """Any path except the API's and the static files', which must 404 for real."""

    regex = r"(?!(?:api|static)(?:/|$))[^/].*?"


def init_app(app: Flask) -> None:
    app.url_map.converters["client_route"] = ClientRouteConverter
    app.register_blueprint(bp)


def _index() -> Response:
    static = Path(current_app.static_folder or "")
    response = send_from_directory(static / "app", "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.get("/")
def index() -> Response:
    return _index()


@bp.get("/<client_route:path>")
def client_route(path: str) -> Response:
    return _index()


@bp.get("/api/docs/assets/<path:filename>")
def docs_asset(filename: str) -> Response:
    """Swagger UI's files, served locally so /api/docs needs no internet access."""
    return send_from_directory(str(swagger_ui_path), filename, max_age=3600)
