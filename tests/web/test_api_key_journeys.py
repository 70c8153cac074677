"""The "API keys" page in a real Chromium, against a real gunicorn: a key is
made in the web app, used by a plain HTTP client (no browser cookies) within
its scopes, seen as used, and revoked."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from flaskou.accounts import service
from tests.conftest import DEFAULT_PASSWORD
from tests.web.test_journeys import log_in, sign_up

pytestmark = [pytest.mark.slow]

TOKEN = re.compile(r"^fko_\S{42}$")


def create_key(page: Page, name: str, scopes: list[str], expiration: str | None = None) -> str:
    """Fill the form on the API keys page and answer the token it shows once."""
    page.get_by_label("Name").fill(name)
    for scope in scopes:
        page.get_by_role("checkbox", name=scope, exact=True).check()
    if expiration:
        page.get_by_label("Expiration").select_option(label=expiration)
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("you will not see it again")).to_be_visible()
    return page.get_by_label("Token").input_value()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(server, token: str, filename: str, content: bytes):
    """POST /api/v1/files as a script would: multipart, the key as the only credential."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**bearer(token), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return server.request("POST", "/api/v1/files", raw=body, headers=headers)


def key_row(page: Page, name: str):
    return page.locator("tr[data-api-key]", has=page.get_by_text(name, exact=True))


def test_a_key_made_in_the_app_works_within_its_scopes_until_it_is_revoked(pages, server):
    page = pages()
    sign_up(page, "kim")
    page.get_by_role("link", name="API keys").click()
    expect(page).to_have_url(re.compile(r"/api-keys$"))
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    # 30 days unless the user picks otherwise, and no warning for that.
    expect(page.get_by_label("Expiration")).to_have_value("30")
    expect(page.get_by_text("never expires")).to_be_hidden()

    token = create_key(page, "Backup script", ["files:read", "account:read"])
    assert TOKEN.match(token), token
    row = key_row(page, "Backup script")
    expect(row).to_be_visible()
    expect(row.locator(".apikey-prefix")).to_have_text(f"{token[:12]}…")
    expect(row.locator("li.scope-chip", has_text="files:read")).to_be_visible()
    expect(row.locator("li.scope-chip", has_text="account:read")).to_be_visible()
    expect(row.locator("li.scope-chip", has_text="files:write")).to_have_count(0)
    expect(row.get_by_text("Never used")).to_be_visible()

    # "Done" drops the token from the page for good.
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_label("Token")).to_have_count(0)
    assert token not in page.content()

    # A script with nothing but the key: it reads, it may not write.
    status, _, me = server.request("GET", "/api/v1/users/me", headers=bearer(token))
    assert status == 200, me
    assert me["username"] == "kim"
    status, _, files = server.request("GET", "/api/v1/files", headers=bearer(token))
    assert status == 200, files
    status, headers, problem = upload(server, token, "nope.txt", b"not allowed")
    assert status == 403, problem
    assert headers["Content-Type"].startswith("application/problem+json")
    assert problem["type"].endswith("/insufficient-scope"), problem

    # The page shows the key as used once it is read again.
    page.reload()
    row = key_row(page, "Backup script")
    expect(row).to_be_visible()
    expect(row.get_by_text("Never used")).to_have_count(0)
    expect(row.locator("td[data-label='Last used'] time")).to_be_visible()

    # Revoking asks first; Cancel keeps the key working.
    row.get_by_role("button", name="Revoke").click()
    row.get_by_role("button", name="Cancel").click()
    assert server.request("GET", "/api/v1/users/me", headers=bearer(token))[0] == 200
    row.get_by_role("button", name="Revoke").click()
    expect(row.get_by_text("Anything using it stops working")).to_be_visible()
    row.get_by_role("button", name="Revoke", exact=True).click()
    expect(page.locator(".page > .status")).to_have_text("Revoked the key Backup script.")
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    status, _, problem = server.request("GET", "/api/v1/users/me", headers=bearer(token))
    assert status == 401, problem


def test_the_form_says_what_is_wrong_next_to_the_field(pages):
    page = pages()
    sign_up(page, "lou")
    page.goto("/api-keys")

    # Nothing filled in: the page asks before calling the server.
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("Give the key a name.")).to_be_visible()
    expect(page.get_by_text("Choose at least one scope.")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_be_focused()

    # "No expiration" warns.
    page.get_by_label("Expiration").select_option(label="No expiration")
    expect(page.get_by_text("never expires")).to_be_visible()

    # What only the server knows (here a scope it does not have) lands under
    # the scope group, from the API's errors.scopes.
    page.get_by_label("Name").fill("Odd one")
    checkbox = page.get_by_role("checkbox", name="files:read", exact=True)
    checkbox.evaluate("box => { box.value = 'files:everything'; }")
    checkbox.check()
    page.get_by_role("button", name="Create key").click()
    scopes_error = page.locator("#apikey-scopes-error")
    expect(scopes_error).to_be_visible()
    expect(scopes_error).not_to_have_text("Choose at least one scope.")
    expect(page.get_by_role("group", name="Scopes")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Give the key a name.")).to_be_hidden()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()


def test_admin_scopes_are_offered_to_admins_only(pages, server, app):
    service.create_admin("root", "root@example.com", DEFAULT_PASSWORD)

    user = pages("user")
    sign_up(user, "max")
    user.goto("/api-keys")
    for scope in ["account:read", "files:read", "files:write"]:
        expect(user.get_by_role("checkbox", name=scope, exact=True)).to_be_visible()
    expect(user.get_by_role("checkbox", name=re.compile("^admin:"))).to_have_count(0)

    admin = pages("admin")
    log_in(admin, "root")
    admin.get_by_role("link", name="API keys").click()
    for scope in ["admin:read", "admin:write"]:
        expect(admin.get_by_role("checkbox", name=scope, exact=True)).to_be_visible()

    # An admin:read key reads the user list, and can change nothing there.
    token = create_key(admin, "Audit export", ["admin:read"], expiration="7 days")
    status, _, users = server.request("GET", "/api/v1/users", headers=bearer(token))
    assert status == 200, users
    assert "max" in [u["username"] for u in users["items"]]
    row = key_row(admin, "Audit export")
    expect(row.locator("li.scope-chip", has_text="admin:read")).to_be_visible()
    expect(row.locator("td[data-label='Expires'] time")).to_be_visible()


def test_usable_on_a_phone_width_screen(pages):
    page = pages("phone", viewport={"width": 375, "height": 740})
    sign_up(page, "ned")
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()

    def overflow() -> int:
        return page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )

    assert overflow() <= 1, f"the empty page scrolls sideways by {overflow()}px"
    create_key(
        page,
        "A rather long name for a key used by a phone-width test",
        ["account:read", "files:read", "files:write"],
        expiration="No expiration",
    )
    expect(key_row(page, "A rather long name for a key used by a phone-width test")).to_be_visible()
    # The token card, the form and the stacked rows all fit.
    assert overflow() <= 1, f"the page with a new key scrolls sideways by {overflow()}px"
    copy = page.get_by_role("button", name="Copy").bounding_box()
    assert copy is not None and copy["x"] + copy["width"] <= 375, copy
