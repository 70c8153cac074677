"""The single-page web app: index.html at / and at every client-side route."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, send_from_directory
from werkzeug.routing import PathConverter

from flaskou.headers import DOCS_POLICY, WEB_APP_POLICY

bp = Blueprint("web", __name__)

# Swagger UI 5 (it reads OpenAPI 3.1), from the swagger-ui-py wheel: no CDN.
SWAGGER_UI_ASSETS = str(files("swagger_ui") / "static")


class ClientRouteConverter(PathConverter):
    """Any path except the API's and the static files', which must 404 for real."""

    regex = r"(?!(?:api|static)(?:/|$))[^/].*?"


def init_app(app: Flask) -> None:
    app.url_map.converters["client_route"] = ClientRouteConverter
    app.register_blueprint(bp)


def _page(folder: str, policy: str) -> Response:
    static = Path(current_app.static_folder or "")
    response = send_from_directory(static / folder, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = policy
    return response


def _index() -> Response:
    return _page("app", WEB_APP_POLICY)


@bp.get("/")
def index() -> Response:
    return _index()


@bp.get("/<client_route:path>")
def client_route(path: str) -> Response:
    return _index()


@bp.get("/api/docs")
def docs() -> Response:
    """Interactive API docs (Swagger UI) for /api/v1/openapi.json, with no inline script."""
    return _page("docs", DOCS_POLICY)


@bp.get("/api/docs/assets/<path:filename>")
def docs_asset(filename: str) -> Response:
    """Swagger UI's files, served locally so /api/docs needs no internet access."""
    return send_from_directory(SWAGGER_UI_ASSETS, filename, max_age=3600)
