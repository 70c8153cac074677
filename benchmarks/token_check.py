"""Does checking a token stay as fast when its user has 10,000 sessions?

One database, two users: `solo` logged in once, `busy` logged in 10,000
times. Rounds of authenticated requests (`GET /api/v1/users/me`) alternate
between the two tokens, so machine noise hits both alike; the ratio of the
medians is the answer (1.00 means "no slower"). Runs on SQLite and on a
throwaway PostgreSQL server, and shows PostgreSQL's plan for the lookup.
BENCH_REAL_LOGINS=1 opens the 10,000 sessions through real logins (slow).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import text
from tests.support.postgres import PostgresCluster

from flaskou import Settings, create_app
from flaskou.accounts import service as accounts
from flaskou.extensions import db
from flaskou.sessions import service as sessions

SESSIONS = 10_000
ROUNDS = 15
REQUESTS_PER_ROUND = 200
LOOKUP_PLAN = "EXPLAIN SELECT * FROM sessions WHERE token_hash = :h AND expires_at > now()"


def _time_requests(client, token: str) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    for _ in range(REQUESTS_PER_ROUND):
        response = client.get("/api/v1/users/me", headers=headers)
        assert response.status_code == 200
    return (time.perf_counter() - start) / REQUESTS_PER_ROUND


def run(database_url: str, label: str) -> None:
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(
            Settings(
                database_url=database_url,
                instance_path=instance,
                testing=True,
                rate_limit_login="100000 per minute",
            )
        )
        with app.app_context():
            upgrade()
            client = app.test_client()
            for name in ("solo", "busy"):
                accounts.create_user(name, f"{name}@example.com", "benchmark password")
            solo_token = client.post(
                "/api/v1/login", json={"username": "solo", "password": "benchmark password"}
            ).get_json()["token"]
            busy_user = accounts.find_by_login("busy")
            start = time.perf_counter()
            busy_token = ""
            if os.environ.get("BENCH_REAL_LOGINS") == "1":
                # The whole login, argon2 included (about 30 ms each).
                for _ in range(SESSIONS):
                    busy_token = client.post(
                        "/api/v1/login", json={"username": "busy", "password": "benchmark password"}
                    ).get_json()["token"]
            else:
                # Same code path as a login after its password check (argon2 on
                # purpose: 10,000 of those mostly measure hashing).
                for _ in range(SESSIONS):
                    _, busy_token = sessions.open_session(
                        busy_user, description="bench", ttl_seconds=3600
                    )
                    db.session.commit()
            created = time.perf_counter() - start
            count = db.session.scalar(text("SELECT count(*) FROM sessions"))
            print(f"[{label}] {count} sessions in the table ({created:.1f}s to create them)")

            solo, busy = [], []
            for _ in range(2):  # warm-up
                _time_requests(client, solo_token)
                _time_requests(client, busy_token)
            for _ in range(ROUNDS):
                solo.append(_time_requests(client, solo_token))
                busy.append(_time_requests(client, busy_token))
            solo_ms = statistics.median(solo) * 1000
            busy_ms = statistics.median(busy) * 1000
            print(f"[{label}] authenticated request, user with 1 session:      {solo_ms:.3f} ms")
            print(
                f"[{label}] authenticated request, user with {SESSIONS} sessions: {busy_ms:.3f} ms"
            )
            print(f"[{label}] ratio busy/solo: {busy_ms / solo_ms:.2f}")

            if db.engine.dialect.name == "postgresql":
                db.session.execute(text("ANALYZE sessions"))
                plan = (
                    db.session.execute(
                        text(LOOKUP_PLAN),
                        {"h": sessions.hash_token(busy_token)},
                    )
                    .scalars()
                    .all()
                )
                print(f"[{label}] plan: " + " / ".join(line.strip() for line in plan))
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    print(f"== token check with 1 vs {SESSIONS} sessions ==")
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite:///" + str(Path(tmp) / "bench.sqlite3"), "sqlite")
    cluster = PostgresCluster().start()
    try:
        run(cluster.create_database("flaskou_bench"), "postgresql")
    finally:
        cluster.destroy()
