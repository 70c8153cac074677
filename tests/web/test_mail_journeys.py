"""The web app's mail journeys in a real Chromium: a real gunicorn, the real mail
worker delivering over SMTP to a real server on loopback, and the links read
from the mail that arrived there."""

from __future__ import annotations

import re
import time
from email.message import EmailMessage

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import DEFAULT_PASSWORD
from tests.support import smtp as smtp_support
from tests.support.server import MailWorker, Server
from tests.support.smtp import SmtpServer, link_in

pytestmark = [pytest.mark.slow]

smtp_server = smtp_support.smtp_server

NEW_PASSWORD = "a brand new tuba staple"
RESET_LINK = "/reset-password#token="
VERIFY_LINK = "/verify-email#token="


@pytest.fixture
def email_verification() -> str:
    """EMAIL_VERIFICATION of the server; a test parametrizes it to change it."""
    return "optional"


@pytest.fixture
def rate_limit_mail() -> str:
    """RATE_LIMIT_MAIL of the server: roomy, unless a test is about the limit."""
    return "50 per hour"


@pytest.fixture
def rate_limit_login() -> str:
    """RATE_LIMIT_LOGIN of the server, which the strength meter's endpoint shares."""
    return "100 per minute"


@pytest.fixture
def server(
    app,
    migrated_database,
    tmp_path,
    smtp_server,
    email_verification,
    rate_limit_mail,
    rate_limit_login,
):
    """flaskou under gunicorn and its mail worker, delivering to `smtp_server`."""
    env = {
        "DATABASE_URL": migrated_database,
        "SECRET_KEY": "browser-test-secret-browser-test-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "RATE_LIMIT_LOGIN": rate_limit_login,
        "RATE_LIMIT_MAIL": rate_limit_mail,
        "RATE_LIMIT_SIGNUP": "50 per hour",
        "MAIL_URL": smtp_server.url,
        "EMAIL_VERIFICATION": email_verification,
    }
    server = Server(env, workers=1, log_path=tmp_path / "gunicorn.log")
    # Links in the mail must lead back to this very server.
    env["PUBLIC_URL"] = server.base
    server.env["PUBLIC_URL"] = server.base
    server.start()
    worker = MailWorker(env, log_path=tmp_path / "mail-worker.log").start()
    yield server
    worker.stop()
    server.stop()


def link_to(smtp: SmtpServer, address: str, path: str, *, count: int = 1) -> str:
    """The link containing `path` in the `count`-th such mail to `address` (waits for it)."""
    deadline = time.monotonic() + 30
    while True:
        found: list[EmailMessage] = [
            message for message in smtp.messages_to(address) if path in plain_text(message)
        ]
        if len(found) >= count:
            return link_in(found[count - 1], path)
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no mail number {count} to {address} with {path}; got {len(found)}"
            )
        time.sleep(0.1)


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return str(body.get_content()) if isinstance(body, EmailMessage) else ""


def fill_sign_up(page: Page, username: str, password: str = DEFAULT_PASSWORD) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()


def fill_log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def logged_in(page: Page) -> None:
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()


def open_link(page: Page, server: Server, link: str, path: str) -> None:
    """Follow a mailed link; the page takes the token out of the address bar."""
    assert link.startswith(server.base + path + "#token="), link
    page.goto(link)
    expect(page).to_have_url(server.base + path)
    assert "token" not in page.evaluate("location.href")


def test_a_forgotten_password_is_reset_with_the_link_from_the_mail(pages, server, smtp_server):
    page = pages()
    fill_sign_up(page, "ada")
    logged_in(page)
    page.get_by_role("button", name="Log out", exact=True).click()

    # The login page leads to the request form; its answer never tells
    # whether an address has an account.
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/forgot-password$"))
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_role("button", name="Send the link").click()
    status = page.get_by_role("status").filter(has_text="If an account uses")
    expect(status).to_contain_text("If an account uses nobody@example.com, a link")
    unknown = status.inner_text().replace("nobody@example.com", "ADDRESS")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(status).to_contain_text("If an account uses ada@example.com, a link")
    assert status.inner_text().replace("ada@example.com", "ADDRESS") == unknown

    link = link_to(smtp_server, "ada@example.com", RESET_LINK)
    open_link(page, server, link, "/reset-password")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    new_password = page.get_by_label("New password")
    new_password.fill("password")
    expect(page.locator(".strength-words")).to_contain_text("Very weak")
    new_password.fill(NEW_PASSWORD)
    expect(page.locator(".strength-words")).to_contain_text(re.compile(r"Good|Strong"))
    page.get_by_role("button", name="Set the new password").click()

    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_have_text("Password changed, sign in with the new one.")

    fill_log_in(page, "ada", DEFAULT_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Invalid username or password.")
    fill_log_in(page, "ada", NEW_PASSWORD)
    logged_in(page)

    # The link is spent: opened again, the page says so and offers a new one.
    open_link(page, server, link, "/reset-password")
    page.get_by_label("New password").fill("another new tuba staple")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid or has expired")
    page.get_by_role("link", name="Ask for a new link").click()
    expect(page).to_have_url(re.compile(r"/forgot-password$"))


def test_the_link_from_the_sign_up_mail_verifies_the_address(pages, server, smtp_server):
    page = pages()
    fill_sign_up(page, "bob")
    logged_in(page)
    banner = page.locator("#banner")
    expect(banner).to_contain_text("Your email address bob@example.com is not verified yet")

    # Resend from the banner: a second link is mailed.
    banner.get_by_role("button", name="Resend").click()
    expect(banner.get_by_role("status")).to_contain_text("Sent.")
    link_to(smtp_server, "bob@example.com", VERIFY_LINK, count=2)
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_text("Not verified", exact=True)).to_be_visible()
    expect(banner).to_be_hidden()  # the profile says it itself

    open_link(page, server, link_to(smtp_server, "bob@example.com", VERIFY_LINK), "/verify-email")
    expect(page.get_by_role("status")).to_have_text("Your address bob@example.com is verified.")

    page.get_by_role("link", name="Go to your files").click()
    expect(page.get_by_text("No files yet.")).to_be_visible()
    expect(banner).to_be_hidden()
    expect(page.get_by_text("is not verified yet")).to_have_count(0)
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_text("Verified", exact=True)).to_be_visible()
    page.reload()
    expect(page.get_by_text("Verified", exact=True)).to_be_visible()
    expect(banner).to_be_hidden()


@pytest.mark.parametrize("email_verification", ["required"])
def test_with_verification_required_the_mail_link_opens_the_account(
    pages, server, smtp_server, email_verification
):
    page = pages()
    fill_sign_up(page, "cyd")
    expect(page).to_have_url(re.compile(r"/check-inbox$"))
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    expect(page.get_by_text("Check your inbox to verify cyd@example.com")).to_be_visible()
    expect(page.get_by_role("button", name="Log out", exact=True)).to_have_count(0)

    # The right password is refused until the address is verified; the
    # server mails a new link, and the page says so.
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill("cyd")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/check-inbox$"))
    expect(page.get_by_text("not verified yet, so you cannot log in")).to_be_visible()
    expect(page.get_by_text("We have mailed a new verification link")).to_be_visible()
    assert not any(c["name"] == "flaskou_session" for c in page.context.cookies())

    link = link_to(smtp_server, "cyd@example.com", VERIFY_LINK, count=2)
    open_link(page, server, link, "/verify-email")
    expect(page.get_by_role("status")).to_have_text("Your address cyd@example.com is verified.")
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill("cyd")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    logged_in(page)
    expect(page).to_have_url(re.compile(r"/files$"))
    expect(page.locator("#banner")).to_be_hidden()


@pytest.mark.parametrize("rate_limit_mail", ["1 per hour"])
def test_too_many_mails_asked_for_is_said_plainly(pages, server, smtp_server, rate_limit_mail):
    page = pages()
    fill_sign_up(page, "dee")
    logged_in(page)
    banner = page.locator("#banner")
    banner.get_by_role("button", name="Resend").click()
    expect(banner.get_by_role("status")).to_contain_text("Sent.")
    banner.get_by_role("button", name="Resend").click()
    expect(banner.get_by_role("status")).to_contain_text(
        re.compile(
            r"Too many links were asked for this address\. Try again in \d+ (?:minutes?|hours?)\."
        )
    )

    # The same address has used its one mail for the hour: the reset form says so.
    page.get_by_role("button", name="Log out", exact=True).click()
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("dee@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("alert")).to_contain_text(
        re.compile(
            r"Too many reset links were asked for .*\. Try again in \d+ (?:minutes?|hours?)\."
        )
    )
    expect(page.get_by_text("If an account uses")).to_have_count(0)


@pytest.mark.parametrize("rate_limit_login", ["3 per minute"])
def test_the_strength_meter_asks_as_one_types_and_falls_silent_when_refused(
    pages, rate_limit_login
):
    page = pages()
    asked: list[str] = []
    page.on(
        "request",
        lambda request: (
            asked.append(request.url) if request.url.endswith("/password-strength") else None
        ),
    )
    page.goto("/signup")
    page.get_by_label("Username").fill("eve")
    page.get_by_label("Email").fill("eve@example.com")
    password = page.get_by_label("Password")
    words = page.locator(".strength-words")

    # Typing is asked about once it pauses, and the address counts against it.
    typed = "eve@example.com"
    password.press_sequentially(typed, delay=20)
    expect(words).to_have_text("Strength: Very weak (0 of 4).")
    assert 1 <= len(asked) < len(typed) // 3, asked
    expect(password).to_have_attribute("aria-describedby", re.compile(r"strength-\d+"))

    # Emptied, the meter goes and nothing is asked.
    before = len(asked)
    password.fill("")
    expect(words).to_have_count(0)
    page.wait_for_timeout(1000)
    assert len(asked) == before

    password.fill("correct horse battery staple")
    expect(words).to_contain_text(re.compile(r"Good|Strong"))
    expect(page.locator(".strength-feedback")).to_have_count(0)

    # Over the limit (3 a minute here) the meter says nothing rather than an error.
    for n in range(1, 6):
        with page.expect_response(
            lambda response: response.url.endswith("/password-strength")
        ) as answer:
            password.fill(f"tuba staple number {n}")
        if answer.value.status == 429:
            break
    assert answer.value.status == 429
    expect(words).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_count(0)
    # and signing up works all the same
    page.get_by_role("button", name="Sign up").click()
    logged_in(page)
