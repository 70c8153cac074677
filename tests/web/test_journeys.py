"""The web app in a real Chromium, against a real gunicorn: a person's journeys."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from flaskou.accounts import service
from flaskou.audit.service import ACTIONS
from tests.conftest import DEFAULT_PASSWORD

pytestmark = [pytest.mark.slow]


def sign_up(page: Page, username: str, password: str = DEFAULT_PASSWORD) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/files$"))


def log_in(page: Page, username: str, password: str = DEFAULT_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()


def slow_uploads(page: Page, bytes_per_second: int) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def test_sign_up_upload_download_revoke_and_log_out(pages, tmp_path):
    laptop = pages("laptop")
    sign_up(laptop, "ada")
    expect(laptop.get_by_text("No files yet.")).to_be_visible()
    expect(laptop.get_by_text("Used: 0 bytes of 1 GiB")).to_be_visible()

    phone = pages("phone")
    log_in(phone, "ada")

    # upload with visible progress
    content = bytes(range(256)) * 8 * 1024  # 2 MiB
    source = tmp_path / "notes.bin"
    source.write_bytes(content)
    slow_uploads(laptop, 1024 * 1024)
    laptop.get_by_label("File", exact=True).set_input_files(str(source))
    laptop.get_by_role("button", name="Upload").click()
    expect(laptop.get_by_label("Upload progress")).to_be_visible()
    expect(laptop.get_by_text(re.compile(r"^\d{1,3}%$"))).to_be_visible()
    expect(laptop.get_by_role("link", name="Download")).to_be_visible(timeout=20_000)
    expect(laptop.get_by_text("notes.bin", exact=True)).to_be_visible()
    expect(laptop.get_by_text("Used: 2 MiB of 1 GiB")).to_be_visible()
    slow_uploads(laptop, -1)

    # download it
    with laptop.expect_download() as download:
        laptop.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "notes.bin"
    assert download.value.path().read_bytes() == content

    # revoke the phone's session from the laptop
    laptop.get_by_role("link", name="Sessions").click()
    expect(laptop.get_by_text("(this session)")).to_be_visible()
    laptop.get_by_role("button", name="Revoke", exact=True).click()
    expect(laptop.get_by_role("button", name="Revoke", exact=True)).to_have_count(0)
    phone.get_by_role("link", name="Sessions").click()
    expect(phone).to_have_url(re.compile(r"/login$"))
    expect(phone.get_by_text("Your session has ended")).to_be_visible()

    # log out
    laptop.get_by_role("button", name="Log out", exact=True).click()
    expect(laptop).to_have_url(re.compile(r"/login$"))
    laptop.goto("/files")
    expect(laptop).to_have_url(re.compile(r"/login$"))


def test_the_session_survives_a_reload_and_stays_out_of_reach_of_scripts(pages):
    page = pages()
    sign_up(page, "bob")
    page.reload()
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()
    assert "flaskou_session" not in page.evaluate("document.cookie")
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    cookie = next(c for c in page.context.cookies() if c["name"] == "flaskou_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"


def test_log_out_everywhere(pages):
    first = pages("first")
    sign_up(first, "cyd")
    second = pages("second")
    log_in(second, "cyd")
    first.get_by_role("link", name="Sessions").click()
    first.get_by_role("button", name="Log out everywhere").click()
    expect(first).to_have_url(re.compile(r"/login$"))
    second.reload()
    expect(second).to_have_url(re.compile(r"/login$"))


def test_bad_input_is_shown_where_it_belongs(pages):
    page = pages()
    sign_up(page, "dora")
    page.get_by_role("button", name="Log out", exact=True).click()
    # The logout has landed (the app is on its login page) before going on.
    expect(page).to_have_url(re.compile(r"/login$"))

    page.goto("/signup")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Email").fill("other@example.com")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    username = page.get_by_label("Username")
    expect(page.get_by_text("Already taken.")).to_be_visible()
    described = (username.get_attribute("aria-describedby") or "").split()
    texts = [page.locator(f"#{element}").inner_text() for element in described]
    assert "Already taken." in texts

    page.get_by_label("Username").fill("Not Valid!")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text(re.compile("lowercase letters"))).to_be_visible()
    expect(page.get_by_text(re.compile("8 to 1024 characters"))).to_be_visible()

    page.goto("/login")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid username or password.")


def test_an_admin_creates_and_grants_roles_and_the_users_view_changes(pages, app):
    service.create_admin("root", "root@example.com", DEFAULT_PASSWORD)
    user = pages("user")
    sign_up(user, "eve")
    expect(user.get_by_role("link", name="Users")).to_have_count(0)

    admin = pages("admin")
    log_in(admin, "root")
    admin.get_by_role("link", name="Roles").click()
    admin.get_by_label("Name").fill("editor")
    admin.get_by_label("Description").fill("Edits articles.")
    admin.get_by_role("button", name="Create role").click()
    expect(admin.locator("tr[data-role=editor]")).to_be_visible()

    admin.get_by_role("link", name="Users").click()
    # Enter searches at once: the typed search's debounced reload would
    # otherwise replace the row under the grant below.
    admin.get_by_label("Search").fill("eve")
    admin.get_by_label("Search").press("Enter")
    row = admin.locator("tr[data-username=eve]")
    expect(row).to_be_visible()
    expect(admin.locator("tr[data-username=root]")).to_have_count(0)
    for role in ["editor", "admin"]:
        row.get_by_label("Role").select_option(role)
        row.get_by_role("button", name="Grant").click()
        expect(row.locator("li.chip", has_text=role)).to_be_visible()

    user.get_by_role("link", name="Profile").click()
    expect(user.get_by_role("link", name="Users")).to_be_visible()
    expect(user.get_by_text("editor")).to_be_visible()
    user.get_by_role("link", name="Audit").click()
    expect(user.get_by_text("role_granted").first).to_be_visible()

    # and taking admin back takes the admin pages away again
    row.locator("li.chip", has_text="admin").get_by_role("button", name="Revoke role").click()
    expect(row.locator("li.chip", has_text="admin")).to_have_count(0)
    user.get_by_role("link", name="Files").click()
    expect(user.get_by_role("link", name="Users")).to_have_count(0)


def test_deleting_a_file_asks_first(pages, tmp_path):
    page = pages()
    sign_up(page, "finn")
    source = tmp_path / "delete-me.txt"
    source.write_text("bye")
    page.get_by_label("File", exact=True).set_input_files(str(source))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("delete-me.txt", exact=True)).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("delete-me.txt", exact=True)).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("No files yet.")).to_be_visible()


def test_usable_on_a_phone_width_screen(pages):
    page = pages("phone", viewport={"width": 375, "height": 740})
    sign_up(page, "gus")
    for path in ["/files", "/sessions", "/profile"]:
        page.goto(path)
        expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{path} scrolls sideways by {overflow}px"


def test_keyboard_only_log_in(pages):
    page = pages()
    sign_up(page, "hal")
    page.get_by_role("button", name="Log out", exact=True).click()
    # Logging out ends on the login page. (Going there at once raced the
    # logout: a load of /login before the session was gone found a signed-in
    # caller and moved on, and the form never showed.)
    expect(page.get_by_text("You have been logged out.")).to_be_visible()
    page.get_by_label("Username").focus()
    page.keyboard.type("hal")
    page.keyboard.press("Tab")
    page.keyboard.type(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()


def test_the_page_ships_a_strict_csp_and_no_inline_script(server):
    import urllib.request

    with urllib.request.urlopen(server.base + "/files") as response:
        policy = response.headers["Content-Security-Policy"]
        html = response.read().decode()
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "http://" not in html and "https://" not in html


def test_drag_and_drop_uploads(pages):
    page = pages()
    sign_up(page, "ivy")
    page.locator(".dropzone").dispatch_event("dragenter")
    page.evaluate(
        """() => {
            const transfer = new DataTransfer();
            transfer.items.add(new File(["dropped on the page"], "dropped.txt",
                                        {type: "text/plain"}));
            document.querySelector(".dropzone").dispatchEvent(
                new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }"""
    )
    expect(page.get_by_text("dropped.txt", exact=True)).to_be_visible()


def test_the_audit_filter_suggests_the_servers_actions(pages, app):
    service.create_admin("root", "root@example.com", DEFAULT_PASSWORD)
    page = pages()
    log_in(page, "root")
    page.get_by_role("link", name="Audit").click()
    options = page.locator("#audit-actions option")
    expect(options).to_have_count(len(ACTIONS))
    assert "role_granted" in options.evaluate_all("nodes => nodes.map(n => n.value)")
    page.get_by_label("Action").fill("login")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("cell", name="login", exact=True).first).to_be_visible()
