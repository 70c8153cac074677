"""Screenshots of the running web app for the README: `make screenshots`.

Starts flaskou (gunicorn, a throwaway SQLite database), fills it with a few
users, files and sessions through the API and the CLI, and photographs the
pages with the system Chromium into docs/screenshots/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import Server  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PASSWORD = "screenshot password"  # noqa: S105 (a throwaway demo account)


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
        server = Server(env, workers=1, log_path=Path(tmp) / "gunicorn.log").start()
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
            shoot(server.base)
        finally:
            server.stop()
    print(f"screenshots written to {OUT.relative_to(ROOT)}/")


def shoot(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=base, viewport={"width": 1200, "height": 760})
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
        browser.close()


if __name__ == "__main__":
    main()
