"""Browser tests: Playwright drives the system Chromium against a real gunicorn."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.server import ROOT, Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.slow]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash.setdefault(_FAILED, report.failed)
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def browser() -> Browser:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(app, migrated_database, tmp_path):
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
    ).start()
    yield server
    server.stop()


# Chromium logs every 4xx answer as a console error; those are the API
# answering as it should (the tests check what the page shows for them).
EXPECTED_ANSWER = re.compile(
    r"Failed to load resource: the server responded with a status of 4\d\d"
)


class BrowserErrors(list):
    """Console errors and uncaught exceptions seen by a page."""


def new_page(browser: Browser, base_url: str, errors: BrowserErrors, **options) -> Page:
    context = browser.new_context(base_url=base_url, accept_downloads=True, **options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console {message.type}: {message.text}")
            if message.type == "error" and not EXPECTED_ANSWER.search(message.text)
            else None
        ),
    )
    return page


@pytest.fixture
def pages(browser, server, request):
    """Opens pages (each its own browser context: its own cookies); screenshots on failure."""
    opened: list[tuple[str, Page]] = []
    errors = BrowserErrors()

    def open_page(name: str = "page", **options) -> Page:
        page = new_page(browser, server.base, errors, **options)
        opened.append((name, page))
        return page

    yield open_page
    if request.node.stash.get(_FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        slug = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        for name, page in opened:
            try:
                page.screenshot(path=str(ARTIFACTS / f"{slug}-{name}.png"), full_page=True)
            except Exception as exc:  # the page may be gone; keep going
                print(f"no screenshot of {name}: {exc}")
    for _, page in opened:
        page.context.close()
    assert list(errors) == [], errors


def path_of(page: Page) -> str:
    return "/" + page.url.split("/", 3)[3] if page.url.count("/") >= 3 else "/"


__all__ = ["ARTIFACTS", "Path", "path_of"]
