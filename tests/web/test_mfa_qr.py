"""The enrolment QR code is read back as a phone's camera would: zbar decodes a
PNG of the code Chromium drew on the Security page, and of the raw SVG the API
sent, and both hold exactly the otpauth URI of the setup key shown beside
them. The secret decoded from the picture then turns the authenticator app on,
so an app that only ever saw the QR code works.

zbarimg comes from zbar-tools (scripts/install-test-deps.sh)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import DEFAULT_PASSWORD
from tests.web import test_mfa_journeys as journeys

pytestmark = [pytest.mark.slow]

# WebAuthn is not involved here, but the Security page is the same one: the
# app at http://localhost:PORT with PUBLIC_URL to match.
server = journeys.server

# The page draws the code at 192 CSS pixels, under 5 pixels a module. zbar
# reads that too, but a phone's camera sees far more: three device pixels per
# CSS pixel keep the test about the code, not about zbar's limits.
SCALE = 3
API_TOTP = re.compile(r"/api/v1/users/me/mfa/totp$")


def zbar_decode(png: Path) -> str:
    """The text of the one QR code in the picture, as zbar reads it."""
    zbarimg = shutil.which("zbarimg")
    assert zbarimg is not None, "zbarimg is missing: run scripts/install-test-deps.sh"
    result = subprocess.run(
        [zbarimg, "--raw", "-q", str(png)], capture_output=True, text=True, timeout=30
    )
    # zbarimg exits 4 when it finds no code at all.
    assert result.returncode == 0, (result.returncode, result.stderr)
    symbols = result.stdout.splitlines()
    assert len(symbols) == 1, symbols
    return symbols[0]


def photograph(element: Locator, png: Path) -> Path:
    element.screenshot(path=str(png))
    return png


def drawn(page: Page, image: Locator) -> None:
    """The <img> has loaded its picture (not only its box)."""
    expect(image).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )


def test_the_qr_code_holds_the_otpauth_uri_and_its_secret_turns_the_app_on(pages, tmp_path):
    page = pages("security", device_scale_factor=SCALE)
    journeys.sign_up(page, "qwen")
    journeys.open_security(page)
    setup = page.get_by_role("form", name="Set up an authenticator app")
    setup.get_by_label("Current password").fill(DEFAULT_PASSWORD)
    # What the API sends the page: the URI and the SVG the page draws from.
    with page.expect_response(
        lambda answer: answer.request.method == "POST" and bool(API_TOTP.search(answer.url))
    ) as answered:
        setup.get_by_role("button", name="Set up an authenticator app").click()
    assert answered.value.status == 200, answered.value.status
    sent = answered.value.json()
    uri = sent["otpauth_uri"]

    qr = page.get_by_role("img", name=re.compile("QR code"))
    drawn(page, qr)
    on_the_page = zbar_decode(photograph(qr, tmp_path / "security-qr.png"))
    assert on_the_page == uri

    # The same account as the setup key typed by hand, and as the link for phones.
    setup_key = page.get_by_label("Setup key").inner_text().replace(" ", "")
    assert setup_key == sent["secret"]
    assert on_the_page == pyotp.TOTP(setup_key).provisioning_uri(name="qwen", issuer_name="flaskou")
    link = page.get_by_role("link", name="open it in your authenticator app")
    assert link.get_attribute("href") == on_the_page

    # The raw SVG from the API, drawn on its own, reads the same.
    raw = pages("raw-svg", device_scale_factor=SCALE)
    svg = base64.b64encode(sent["qr_svg"].encode()).decode()
    raw.set_content(
        '<body style="margin:0;background:#fff">'
        f'<img alt="raw QR code" width="192" height="192" src="data:image/svg+xml;base64,{svg}">'
        "</body>"
    )
    raw_image = raw.get_by_role("img", name="raw QR code")
    drawn(raw, raw_image)
    assert zbar_decode(photograph(raw_image, tmp_path / "api-qr.png")) == uri

    # An app that only scanned the picture: its secret, its code, accepted.
    scanned = pyotp.parse_uri(on_the_page)
    assert isinstance(scanned, pyotp.TOTP)
    assert (scanned.issuer, scanned.name, scanned.digits, scanned.interval) == (
        "flaskou",
        "qwen",
        6,
        30,
    )
    confirm = page.get_by_role("form", name="Confirm the authenticator app")
    confirm.get_by_label("Code from the app").fill(scanned.now())
    confirm.get_by_role("button", name="Turn on").click()
    assert len(set(journeys.shown_recovery_codes(page))) == 10
    expect(journeys.overview(page).get_by_text("On", exact=True)).to_be_visible()
