"""Conventions every endpoint shares: errors, the OpenAPI document, the docs."""

from __future__ import annotations

import re

import pytest

from tests.support.problems import assert_problem

CONTRACT_OPERATIONS = {
    ("post", "/api/v1/signup"),
    ("post", "/api/v1/login"),
    ("post", "/api/v1/logout"),
    ("get", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{session_id}"),
    ("get", "/api/v1/users/me"),
    ("patch", "/api/v1/users/me"),
    ("delete", "/api/v1/users/me"),
    ("get", "/healthz"),
    ("get", "/readyz"),
}


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/signup", "/api/", "/api/v1/users/me/x"])
def test_unknown_api_paths_answer_404_problems(client, path):
    assert_problem(client.get(path), 404)
    assert_problem(client.post(path, json={}), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/signup"), ("put", "/api/v1/users/me"), ("patch", "/api/v1/login")],
)
def test_wrong_methods_answer_405_problems(client, method, path):
    response = getattr(client, method)(path)
    assert_problem(response, 405)
    assert "Allow" in response.headers


def test_openapi_document_describes_every_endpoint_with_schemas(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    operations = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert operations >= CONTRACT_OPERATIONS
    signup = spec["paths"]["/api/v1/signup"]["post"]
    assert "application/json" in signup["requestBody"]["content"]
    schemas = spec["components"]["schemas"]
    assert "UserOut" in schemas
    assert "password_hash" not in str(schemas)
    assert "BearerAuth" in spec["components"]["securitySchemes"]
    me = spec["paths"]["/api/v1/users/me"]["get"]
    assert {"BearerAuth": []} in me["security"]


def test_docs_work_without_internet(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    page.close()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls
    for url in urls:
        assert url.startswith("/"), f"docs page loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200
        asset.close()
    assert "http://" not in html.replace("http://localhost", "")
    assert "https://cdn" not in html


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["database"] == "ok"


@pytest.mark.parametrize(
    "settings_overrides",
    [{"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}],
)
def test_readyz_answers_503_when_the_database_does_not(settings_overrides, tmp_path):
    from flaskou import Settings, create_app

    app = create_app(Settings(testing=True, instance_path=str(tmp_path), **settings_overrides))
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unavailable"
    assert client.get("/healthz").status_code == 200
    api = client.post("/api/v1/login", json={"username": "ada", "password": "whatever1"})
    assert_problem(api, 503)


def test_the_web_app_is_served_at_client_side_routes(client):
    for path in ["/", "/files", "/admin/users", "/sessions"]:
        response = client.get(path)
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        response.close()
    assert_problem(client.get("/static/nope.js"), 404)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/users?q=a%00b", "/api/v1/files?owner=x%00&limit=5", "/api/v1/audit?actor=%00"],
)
def test_nul_characters_in_queries_answer_422(client, accounts, path):
    root = accounts.create_admin("root")
    assert_problem(client.get(path, headers=root.headers), 422)


def test_nul_characters_in_paths_answer_404(client, accounts):
    root = accounts.create_admin("root")
    assert_problem(client.get("/api/v1/users/ro%00ot", headers=root.headers), 404)
    assert_problem(client.get("/api/v1/roles/ad%00min", headers=root.headers), 404)


def test_nul_characters_in_bodies_answer_422(client, accounts):
    root = accounts.create_admin("root")
    response = client.post(
        "/api/v1/roles",
        json={"name": "editor", "description": "bad\x00text"},
        headers=root.headers,
    )
    assert assert_problem(response, 422)["errors"] == {"description": ["Contains a NUL character."]}
    login = client.post("/api/v1/login", json={"username": "root\x00", "password": "x\x00"})
    assert set(assert_problem(login, 422)["errors"]) == {"username", "password"}
