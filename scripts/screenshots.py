"""Screenshots of the running web app for the README: `make screenshots`.

Starts flaskou (gunicorn, a throwaway SQLite database), fills it with a few
users, files and sessions through the API and the CLI, and photographs the
pages with the system Chromium into docs/screenshots/. The second factors are
set up as a person would: the authenticator app's codes computed from the
setup key shown, the passkey made by Chromium's virtual authenticator.

WebAuthn refuses an IP address as its relying party, so the pages are opened
at http://localhost:PORT and PUBLIC_URL says the same (gunicorn still binds
127.0.0.1).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pyotp
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import Server  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.web.test_mfa_journeys import VirtualAuthenticator  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PASSWORD = "screenshot password"  # noqa: S105 (a throwaway demo account)
DESKTOP = {"width": 1200, "height": 760}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flaskou-shots-") as tmp:
        env = {
            "DATABASE_URL": f"sqlite:///{tmp}/shots.sqlite3",
            "SECRET_KEY": "screenshots-secret-screenshots-secret",
            "INSTANCE_PATH": f"{tmp}/instance",
            "UPLOAD_DIR": f"{tmp}/uploads",
        }
        flask = str(Path(sys.executable).parent / "flask")
        full_env = {**os.environ, **env}
        subprocess.run(
            [flask, "--app", "flaskou", "db", "upgrade"],
            env=full_env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [flask, "--app", "flaskou", "create-admin", "root", "root@example.com", PASSWORD],
            env=full_env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        server = Server(env, workers=1, log_path=Path(tmp) / "gunicorn.log")
        public_url = f"http://localhost:{server.port}"
        server.env["PUBLIC_URL"] = public_url
        server.start()
        try:
            for name in ["ada", "grace", "linus", "margaret"]:
                server.request(
                    "POST",
                    "/api/v1/signup",
                    {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
                )
            server.request(
                "POST",
                "/api/v1/login",
                {"username": "ada", "password": PASSWORD},
                {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0) Mobile"},
            )
            shoot(public_url)
        finally:
            server.stop()
    print(f"screenshots written to {OUT.relative_to(ROOT)}/")


def shoot(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=base, viewport=DESKTOP)
        page.goto("/login")
        page.get_by_label("Username").fill("ada")
        page.screenshot(path=str(OUT / "login.png"))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("button", name="Log out", exact=True).wait_for()
        for name, body in [
            ("quarterly-report.pdf", b"%PDF-1.7 " * 40000),
            ("holiday photo.jpg", b"\xff\xd8\xff" * 90000),
            ("notes.txt", b"remember the milk\n" * 20),
        ]:
            source = OUT.parent / name
            source.write_bytes(body)
            page.get_by_label("File", exact=True).set_input_files(str(source))
            page.get_by_role("button", name="Upload").click()
            page.get_by_text(name, exact=True).wait_for()
            source.unlink()
        page.screenshot(path=str(OUT / "files.png"))
        page.get_by_role("link", name="Sessions").click()
        page.get_by_text("(this session)").wait_for()
        page.screenshot(path=str(OUT / "sessions.png"))
        shoot_api_keys(page)
        page.get_by_role("button", name="Log out", exact=True).click()

        page.goto("/login")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Users").click()
        page.locator("tr[data-username=ada]").wait_for()
        page.screenshot(path=str(OUT / "admin-users.png"))

        phone = browser.new_page(base_url=base, viewport={"width": 375, "height": 740})
        phone.goto("/signup")
        phone.get_by_label("Username").fill("newcomer")
        phone.screenshot(path=str(OUT / "signup-phone.png"))

        shoot_second_factors(browser, base)
        browser.close()


def shoot_api_keys(page: Page) -> None:
    page.get_by_role("link", name="API keys").click()
    for name, scopes in [("ci upload job", ["files:write"]), ("nightly backup", ["files:read"])]:
        page.get_by_label("Name").fill(name)
        for scope in scopes:
            page.get_by_role("checkbox", name=scope, exact=True).check()
        page.get_by_role("button", name="Create key").click()
        page.get_by_label("Token").wait_for()
        if name != "nightly backup":
            page.get_by_role("button", name="Done").click()
    page.screenshot(path=str(OUT / "api-keys.png"), full_page=True)
    page.get_by_role("button", name="Done").click()


def shoot_second_factors(browser: Browser, base: str) -> None:
    """grace turns on the authenticator app, then adds a passkey, then signs in again."""
    page = browser.new_page(base_url=base, viewport=DESKTOP)
    page.set_default_timeout(10_000)
    VirtualAuthenticator(page)  # lives as long as the tab
    log_in(page, "grace")
    page.get_by_role("link", name="Security").click()
    setup = page.get_by_role("form", name="Set up an authenticator app")
    setup.get_by_label("Current password").fill(PASSWORD)
    setup.get_by_role("button", name="Set up an authenticator app").click()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    setup_key = page.get_by_label("Setup key")
    at_top(page, page.get_by_role("heading", name="Authenticator app"))
    page.screenshot(path=str(OUT / "security-totp.png"))

    app = pyotp.TOTP(setup_key.inner_text().replace(" ", ""))
    confirm = page.get_by_role("form", name="Confirm the authenticator app")
    confirm.get_by_label("Code from the app").fill(app.now())
    confirm.get_by_role("button", name="Turn on").click()
    codes = page.get_by_role("list", name="Recovery codes")
    expect(codes.locator("code")).to_have_count(10)
    # They show near the top: the whole page from its header, as on the other pictures.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(OUT / "recovery-codes.png"))
    page.get_by_role("button", name="I have saved them").click()
    expect(codes).to_have_count(0)

    form = page.get_by_role("form", name="Add a passkey")
    form.get_by_label("Passkey name").fill("MacBook Touch ID")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Add a passkey").click()
    row = page.locator("tr[data-passkey]", has_text="MacBook Touch ID")
    expect(row).to_be_visible()
    at_top(page, page.get_by_role("heading", name="Passkeys"))
    page.screenshot(path=str(OUT / "security-passkeys.png"))

    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    log_in(page, "grace", signed_in=False)
    expect(page.get_by_label("Authentication code")).to_be_focused()
    page.screenshot(path=str(OUT / "login-mfa.png"))
    page.close()


def log_in(page: Page, username: str, *, signed_in: bool = True) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if signed_in:
        page.get_by_role("button", name="Log out", exact=True).wait_for()


def at_top(page: Page, heading: Locator) -> None:
    """Scrolls so the section starting at `heading` opens the picture."""
    heading.evaluate("element => element.scrollIntoView({block: 'start'})")
    page.evaluate("window.scrollBy(0, -16)")


if __name__ == "__main__":
    main()
