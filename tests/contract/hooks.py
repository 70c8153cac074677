"""schemathesis hooks for the contract runs (loaded through SCHEMATHESIS_HOOKS).

The run signs in as a real user or admin, and whatever it does to that
identity (log out everywhere, revoke the session, an admin run deleting or
demoting the account it found in a listing), it never loses its footing: a
401 makes schemathesis ask for credentials again, and this provider then
logs in, or, when the account itself is gone, deactivated or demoted,
creates a fresh one the way a user (sign-up) or an operator
(`flask create-admin`) would.

Configured by environment: FUZZ_BASE (server URL), FUZZ_ROLE (`user` or
`admin`), FUZZ_PASSWORD; `flask` runs with the server's own environment.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import requests
import schemathesis

BASE = os.environ.get("FUZZ_BASE", "")
ROLE = os.environ.get("FUZZ_ROLE", "user")
PASSWORD = os.environ.get("FUZZ_PASSWORD", "")
FLASK = str(Path(sys.executable).parent / "flask")
# Names the generators are unlikely to produce; a fresh one per identity.
_names = (f"contract-{ROLE}-{uuid.uuid4().hex[:12]}-{n}" for n in itertools.count())


def _login(username: str) -> str | None:
    """A token for this account, if it can still do what the run needs."""
    response = requests.post(
        f"{BASE}/api/v1/login", json={"username": username, "password": PASSWORD}, timeout=30
    )
    if response.status_code != 200:
        return None
    token = str(response.json()["token"])
    if ROLE == "admin":
        me = requests.get(
            f"{BASE}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        if "admin" not in me.json().get("roles", []):  # the run took its role away
            return None
    return token


def _create(username: str) -> None:
    email = f"{username}@example.com"
    if ROLE == "admin":
        subprocess.run(
            [FLASK, "--app", "flaskou", "create-admin", username, email, PASSWORD],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return
    response = requests.post(
        f"{BASE}/api/v1/signup",
        json={"username": username, "email": email, "password": PASSWORD},
        timeout=30,
    )
    response.raise_for_status()


# 403 too: an admin run may take the `admin` role from its own account.
@schemathesis.auth(retry_on=[401, 403])
class Identity:
    def __init__(self) -> None:
        self.username = next(_names)
        self.created = 0

    def get(self, case: Any, ctx: Any) -> str:
        token = _login(self.username) if self.created else None
        while token is None:  # never signed up, or deleted/deactivated/demoted by the run
            if self.created:
                self.username = next(_names)
            _create(self.username)
            self.created += 1
            token = _login(self.username)
        return token

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
