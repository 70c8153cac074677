"""Second factors in a real Chromium against a real gunicorn: passkeys made by
Chromium's virtual authenticator (WebAuthn over CDP), authenticator-app codes
computed from the setup key the page shows, recovery codes read off the page,
and an administrator's reset.

WebAuthn refuses an IP address as its relying party, so the browser opens the
app at http://localhost:PORT and the server's PUBLIC_URL says the same (the
server still binds 127.0.0.1)."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Locator, Page, expect

from flaskou.accounts import service
from tests.conftest import DEFAULT_PASSWORD
from tests.support.server import Server

pytestmark = [pytest.mark.slow]

TOTP_STEP = 30


@pytest.fixture
def server(app, migrated_database, tmp_path):
    """flaskou under gunicorn, reached by the browser as http://localhost:PORT."""
    server = Server(
        {
            "DATABASE_URL": migrated_database,
            "SECRET_KEY": "browser-test-secret-browser-test-secret",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "RATE_LIMIT_LOGIN": "100 per minute",
            "RATE_LIMIT_SIGNUP": "1000000 per hour",
            "RATE_LIMIT_MAIL": "1000000 per hour",
        },
        workers=1,
        log_path=tmp_path / "gunicorn.log",
    )
    public_url = f"http://localhost:{server.port}"
    server.env["PUBLIC_URL"] = public_url
    server.start()
    # `pages` opens the app at server.base: the host name, not the address.
    server.base = public_url
    yield server
    server.stop()


class VirtualAuthenticator:
    """Chromium's built-in authenticator for one tab: a platform authenticator
    that holds discoverable credentials and verifies its user (as a
    fingerprint reader would) without asking."""

    def __init__(self, page: Page) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable")
        answer = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                }
            },
        )
        self.id = answer["authenticatorId"]

    def credentials(self) -> list[dict[str, Any]]:
        answer = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        return list(answer["credentials"])


class AuthenticatorApp:
    """What a phone's authenticator app does with the setup key: the RFC 6238
    code of the moment. A code is accepted once, so each sign-in gets a code
    of a later time step than the last one given (the server allows one step
    of drift either way)."""

    def __init__(self, setup_key: str) -> None:
        self.totp = pyotp.TOTP(setup_key.replace(" ", ""))
        self.last_step: int | None = None

    def fresh_code(self) -> str:
        while True:
            now = int(time.time()) // TOTP_STEP
            step = now if self.last_step is None or now > self.last_step else self.last_step + 1
            if step <= now + 1:
                self.last_step = step
                return self.totp.at(step * TOTP_STEP)
            time.sleep(1)

    def wrong_code(self) -> str:
        """A code no step near now has."""
        now = int(time.time()) // TOTP_STEP
        near = {self.totp.at((now + d) * TOTP_STEP) for d in range(-2, 4)}
        return next(f"{n:06d}" for n in range(1, 100) if f"{n:06d}" not in near)


def sign_up(page: Page, username: str) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/files$"))


def enter_password(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def logged_in(page: Page) -> None:
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/files$"))


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login$"))


def open_security(page: Page) -> None:
    page.get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()


def page_status(page: Page) -> Locator:
    """The page's own status region (the banner has one of its own)."""
    return page.locator("#main .page > .status")


def overview(page: Page) -> Locator:
    return page.get_by_role("region", name="Two-step sign-in")


def shown_recovery_codes(page: Page) -> list[str]:
    codes = page.get_by_role("list", name="Recovery codes").locator("code")
    expect(codes).to_have_count(10)
    return codes.all_inner_texts()


def saved_them(page: Page) -> None:
    page.get_by_role("button", name="I have saved them").click()
    expect(page.get_by_role("list", name="Recovery codes")).to_have_count(0)


def add_passkey(page: Page, name: str) -> None:
    form = page.get_by_role("form", name="Add a passkey")
    form.get_by_label("Passkey name").fill(name)
    form.get_by_label("Current password").fill(DEFAULT_PASSWORD)
    form.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("tr[data-passkey]", has_text=name)).to_be_visible()


def enrol_authenticator_app(page: Page) -> tuple[AuthenticatorApp, list[str]]:
    """Set up TOTP on the Security page as a person would: the QR code shows,
    the setup key is typed into the app, the app's code confirms it."""
    open_security(page)
    setup = page.get_by_role("form", name="Set up an authenticator app")
    setup.get_by_label("Current password").fill(DEFAULT_PASSWORD)
    setup.get_by_role("button", name="Set up an authenticator app").click()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    # Drawn under the page's CSP (a CSP refusal would also be a console error).
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    app = AuthenticatorApp(page.get_by_label("Setup key").inner_text())
    confirm = page.get_by_role("form", name="Confirm the authenticator app")
    code = confirm.get_by_label("Code from the app")
    assert code.get_attribute("autocomplete") == "one-time-code"
    assert code.get_attribute("inputmode") == "numeric"
    code.fill(app.fresh_code())
    confirm.get_by_role("button", name="Turn on").click()
    codes = shown_recovery_codes(page)
    expect(overview(page).get_by_text("On", exact=True)).to_be_visible()
    return app, codes


def second_factor_code(page: Page) -> Locator:
    expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()
    return page.get_by_label("Authentication code")


def test_a_passkey_added_on_the_security_page_signs_in_alone(pages):
    page = pages()
    authenticator = VirtualAuthenticator(page)
    sign_up(page, "ada")
    open_security(page)
    expect(overview(page).get_by_text("Off", exact=True)).to_be_visible()
    expect(page.get_by_text("No passkeys yet.")).to_be_visible()

    # A wrong password makes no passkey: the device is not even asked.
    form = page.get_by_role("form", name="Add a passkey")
    form.get_by_label("Passkey name").fill("Laptop")
    form.get_by_label("Current password").fill("not my password")
    form.get_by_role("button", name="Add a passkey").click()
    expect(form.get_by_role("alert")).to_be_visible()
    assert authenticator.credentials() == []

    add_passkey(page, "Laptop")
    # The first second factor turns two-step sign-in on and brings the recovery codes.
    assert len(set(shown_recovery_codes(page))) == 10
    saved_them(page)
    expect(overview(page).get_by_text("On", exact=True)).to_be_visible()
    [credential] = authenticator.credentials()
    assert credential["isResidentCredential"] is True
    row = page.locator("tr[data-passkey]")
    expect(row.get_by_text("Never")).to_be_visible()

    row.get_by_role("button", name="Rename").click()
    row.get_by_label("New name").fill("Work laptop")
    row.get_by_role("button", name="Save").click()
    expect(page_status(page)).to_contain_text("Renamed the passkey to Work laptop.")
    expect(page.locator("tr[data-passkey]", has_text="Work laptop")).to_be_visible()

    log_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    logged_in(page)
    expect(page.get_by_text("Signed in as")).to_contain_text("ada")
    open_security(page)
    expect(page.locator("tr[data-passkey]").get_by_text("Never")).to_have_count(0)

    # Removed from the account, the passkey still on the device signs in no more.
    row = page.locator("tr[data-passkey]", has_text="Work laptop")
    row.get_by_role("button", name="Remove").click()
    row.get_by_role("button", name="Remove").click()  # the confirmation
    expect(page.get_by_text("No passkeys yet.")).to_be_visible()
    expect(overview(page).get_by_text("Off", exact=True)).to_be_visible()
    log_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("That passkey was not accepted")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert len(authenticator.credentials()) == 1


def test_an_authenticator_app_is_asked_for_after_the_password(pages):
    page = pages()
    sign_up(page, "bea")
    app, _codes = enrol_authenticator_app(page)
    saved_them(page)
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_text("Two-step sign-in")).to_be_visible()
    expect(page.get_by_role("link", name="Manage")).to_be_visible()

    log_out(page)
    enter_password(page, "bea")
    code = second_factor_code(page)
    assert code.get_attribute("autocomplete") == "one-time-code"
    assert code.get_attribute("inputmode") == "numeric"
    expect(code).to_be_focused()
    # No passkey on this account: the step offers none.
    expect(page.get_by_role("button", name="Use a passkey")).to_have_count(0)

    code.fill(app.wrong_code())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not right.")).to_be_visible()
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/login$"))

    code.fill(app.fresh_code())
    page.get_by_role("button", name="Verify").click()
    logged_in(page)

    # Turning the app off takes the step away again.
    open_security(page)
    off = page.get_by_role("form", name="Turn off the authenticator app")
    off.get_by_label("Current password").fill(DEFAULT_PASSWORD)
    off.get_by_role("button", name="Turn off the authenticator app").click()
    expect(page_status(page)).to_contain_text("The authenticator app is off.")
    expect(overview(page).get_by_text("Off", exact=True)).to_be_visible()
    log_out(page)
    enter_password(page, "bea")
    logged_in(page)


def test_a_recovery_code_works_once_and_a_void_attempt_starts_over(pages):
    page = pages(permissions=["clipboard-read", "clipboard-write"])
    sign_up(page, "cleo")
    _app, codes = enrol_authenticator_app(page)

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied the recovery codes.")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "flaskou-recovery-codes.txt"
    saved = download.value.path().read_text()
    for code in codes:
        assert code in copied
        assert code in saved
    saved_them(page)

    log_out(page)
    enter_password(page, "cleo")
    second_factor_code(page)
    page.get_by_role("button", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    logged_in(page)
    open_security(page)
    expect(page.get_by_text("Recovery codes left: 9 of 10.")).to_be_visible()

    # The same code a second time is refused; four more misses void the attempt.
    log_out(page)
    enter_password(page, "cleo")
    second_factor_code(page)
    page.get_by_role("button", name="Use a recovery code").click()
    recovery = page.get_by_label("Recovery code")
    recovery.fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(
        page.get_by_text("That recovery code is not right, or it was used already.")
    ).to_be_visible()
    verify = page.get_by_role("button", name="Verify", exact=True)
    ended = page.get_by_text("This sign-in attempt has ended")
    misses = 1
    while misses < 6:
        recovery.fill(f"not-a-code-{misses}")
        verify.click()
        misses += 1
        expect(verify.or_(ended)).to_be_visible()
        if ended.is_visible():
            break
    expect(ended).to_be_visible()
    # Nothing to retry on a void attempt: only the way back.
    expect(page.get_by_label("Recovery code")).to_have_count(0)
    page.get_by_role("button", name="Start over").click()

    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    second_factor_code(page)
    page.get_by_role("button", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(codes[1])
    page.get_by_role("button", name="Verify").click()
    logged_in(page)

    # Running low: a fresh set replaces every old code.
    open_security(page)
    expect(page.get_by_text("Recovery codes left: 8 of 10.")).to_be_visible()
    fresh = page.get_by_role("form", name="Get new recovery codes")
    fresh.get_by_label("Current password").fill(DEFAULT_PASSWORD)
    fresh.get_by_role("button", name="Get new recovery codes").click()
    assert set(shown_recovery_codes(page)).isdisjoint(codes)
    expect(page.get_by_text("Recovery codes left: 10 of 10.")).to_be_visible()


def test_a_passkey_can_be_the_second_step_after_a_password(pages):
    page = pages()
    authenticator = VirtualAuthenticator(page)
    sign_up(page, "dan")
    _app, _codes = enrol_authenticator_app(page)
    saved_them(page)
    add_passkey(page, "Phone")
    assert len(authenticator.credentials()) == 1

    log_out(page)
    enter_password(page, "dan")
    second_factor_code(page)
    page.get_by_role("button", name="Use a passkey").click()
    logged_in(page)


def test_an_admin_resets_a_locked_out_users_second_factors(pages, app):
    service.create_admin("root", "root@example.com", DEFAULT_PASSWORD)
    user = pages("user")
    sign_up(user, "eve")
    enrol_authenticator_app(user)
    saved_them(user)
    log_out(user)
    # The phone is lost: the password alone no longer signs in.
    enter_password(user, "eve")
    second_factor_code(user)

    admin = pages("admin")
    enter_password(admin, "root")
    logged_in(admin)
    admin.get_by_role("link", name="Users").click()
    # root has no second factor: nothing to reset there.
    root_row = admin.locator("tr[data-username=root]")
    expect(root_row).to_be_visible()
    expect(root_row.get_by_role("button", name="Reset second factors")).to_have_count(0)
    # Enter searches at once (a typed search reloads the rows after a pause).
    admin.get_by_label("Search").fill("eve")
    admin.get_by_label("Search").press("Enter")
    expect(root_row).to_have_count(0)
    row = admin.locator("tr[data-username=eve]")
    expect(row.get_by_text("2-step")).to_be_visible()
    row.get_by_role("button", name="Reset second factors").click()
    expect(row.get_by_text("Remove every second factor of eve")).to_be_visible()
    row.get_by_role("button", name="Reset", exact=True).click()
    expect(page_status(admin)).to_contain_text("Reset the second factors of eve")
    expect(row.get_by_role("button", name="Reset second factors")).to_have_count(0)

    enter_password(user, "eve")
    logged_in(user)
    open_security(user)
    expect(overview(user).get_by_text("Off", exact=True)).to_be_visible()
