"""A short run of `make loadtest` (benchmarks/loadtest.py): 20 clients for 10 s
through nginx to two gunicorns on PostgreSQL and Redis lose nothing, and the
checker itself notices a lost file, an orphan object, a phantom user and a
revocation that did not hold."""

from __future__ import annotations

import collections
import hashlib
import uuid

import psycopg
import pytest
from benchmarks import loadtest

pytestmark = [pytest.mark.slow, pytest.mark.engine_independent]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    with loadtest.stack(tmp_path_factory.mktemp("load")) as target:
        yield target, loadtest.run(target, clients=20, seconds=10)


def test_a_short_mixed_load_loses_nothing_and_keeps_nothing_refused(short_run):
    _, results = short_run
    assert results.server_errors == []
    assert results.problems == []
    statuses = collections.Counter((op, status) for op, status, _ in results.samples)
    # Every kind of request in the mix ran and answered as it should, so the
    # checks below had something to check.
    for op, expected in loadtest.EXPECTED.items():
        assert any(statuses[op, status] for status in expected), op
    assert results.ledger.users and results.ledger.files and results.ledger.deleted
    assert results.ledger.revoked and results.ledger.refused_users
    assert (
        results.checked["objects hashed in UPLOAD_DIR"] == results.checked["files in the database"]
    )


def test_the_report_states_the_numbers_and_the_verdict(short_run):
    target, results = short_run
    report = loadtest.markdown(results, target, "pytest")
    assert "Verdict: **PASS**" in report
    assert "requests/s" in report and "p99" in report
    assert "| upload |" in report and "PostgreSQL" in report


def test_the_checker_sees_lost_extra_and_unrevoked_state(short_run):
    """Tamper with what the run left, as a bug would, and the checker says so."""
    target, results = short_run
    ledger = results.ledger
    kept = sorted(set(ledger.files) - ledger.deleted)
    lost_id, corrupt_id = kept[0], kept[1]
    with psycopg.connect(target.database, autocommit=True) as db:
        lost_key = db.execute("SELECT storage_key FROM files WHERE id = %s", (lost_id,)).fetchone()
        corrupt_key = db.execute(
            "SELECT storage_key FROM files WHERE id = %s", (corrupt_id,)
        ).fetchone()
        db.execute(
            "INSERT INTO users (id, username, email, password_hash, is_active, created_at, "
            "updated_at) "
            "VALUES (%s, 'phantom', 'phantom@example.com', 'x', true, now(), now())",
            (uuid.uuid4(),),
        )
        revoked_token, revoked_id = ledger.revoked[0]
        user_id = db.execute("SELECT id FROM users WHERE username = %s", (sorted(ledger.users)[0],))
        db.execute(
            "INSERT INTO sessions (id, user_id, token_hash, description, created_at, "
            "last_used_at, expires_at) VALUES (%s, %s, %s, '', now(), now(), "
            "now() + interval '1 day')",
            (
                uuid.uuid4(),
                user_id.fetchone()[0],
                hashlib.sha256(revoked_token.encode()).hexdigest(),
            ),
        )
    objects = target.upload_dir / "objects"
    (objects / lost_key[0][:2] / lost_key[0]).unlink()
    (objects / corrupt_key[0][:2] / corrupt_key[0]).write_bytes(b"not what was uploaded")
    orphan = "f" * 32
    (objects / "ff").mkdir(exist_ok=True)
    (objects / "ff" / orphan).write_bytes(b"no row")

    problems, _ = loadtest.check(target, ledger)

    text = "\n".join(problems)
    assert f"file {lost_id} has a row but no stored object" in text
    assert f"file {corrupt_id}'s stored bytes do not hash" in text
    assert f"orphan object in UPLOAD_DIR: objects/ff/{orphan}" in text
    assert "user phantom is in the database but no signup answered 201" in text
    assert f"session {revoked_id} was revoked (204) but its row is there" in text
    assert f"revoked session {revoked_id} answered 200, not 401" in text
