"""The API docs page in a real browser: Swagger UI renders under its strict CSP."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_the_api_docs_render_every_operation_with_no_csp_violation(pages):
    page = pages("docs")
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto("/api/docs")
    page.get_by_text("/api/v1/login").first.wait_for()
    assert page.locator(".opblock").count() > 20
    # An operation expands (Swagger UI's own script runs, not only its markup).
    page.locator(".opblock-summary", has_text="/api/v1/users/me").first.click()
    page.get_by_text("Try it out").first.wait_for()
    assert violations == []


def test_the_api_docs_cannot_be_framed(browser, server):
    context = browser.new_context(base_url=server.base)
    try:
        page = context.new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "frame-ancestors" in message.text else None
            ),
        )
        page.goto("/")
        page.evaluate(
            """() => new Promise((resolve) => {
                const frame = document.createElement("iframe");
                frame.src = "/api/docs";
                frame.onload = resolve;
                document.body.append(frame);
            })"""
        )
        assert len(refused) == 1, refused
        assert page.frames[1].locator("#swagger-ui").count() == 0
    finally:
        context.close()
