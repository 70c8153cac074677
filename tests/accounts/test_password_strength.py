"""PASSWORD_MIN_SCORE (zxcvbn) on every new password, and the strength meter's endpoint."""

from __future__ import annotations

import pytest

from flaskou import ConfigError, Settings
from tests.support.problems import assert_problem

STRENGTH = "/api/v1/password-strength"
SIGNUP = "/api/v1/signup"
STRONG = "violet tractor juggles 37 lanterns"
WEAK = "password1"


def test_the_meter_scores_a_password_with_advice(client):
    weak = client.post(STRENGTH, json={"password": WEAK}).get_json()
    strong = client.post(STRENGTH, json={"password": STRONG}).get_json()
    assert weak["score"] < 2 and weak["feedback"]
    assert strong["score"] == 4
    # PASSWORD_MIN_SCORE is 0 here: any password of a valid length is acceptable.
    assert weak["acceptable"] is True
    assert client.post(STRENGTH, json={"password": "short"}).get_json()["acceptable"] is False


def test_the_username_and_email_count_against_a_password_that_contains_them(client):
    alone = client.post(STRENGTH, json={"password": "zorbitraxplume"}).get_json()
    with_context = client.post(
        STRENGTH,
        json={"password": "zorbitraxplume", "username": "zorbitraxplume", "email": "z@example.com"},
    ).get_json()
    assert alone["score"] == 4
    assert with_context["score"] == 0


def test_an_empty_password_scores_0(client):
    # zxcvbn itself raises on "" (found by the contract run: a 500).
    answer = client.post(STRENGTH, json={"password": ""}).get_json()
    assert answer == {"score": 0, "acceptable": False, "feedback": []}


def test_the_meter_refuses_what_it_cannot_take(client):
    assert_problem(client.post(STRENGTH, json={}), 422)
    assert_problem(client.post(STRENGTH, json={"password": "x" * 1025}), 422)
    assert_problem(client.post(STRENGTH, data="x", content_type="text/plain"), 415)


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_login": "3 per minute"}])
def test_the_meter_is_throttled_like_login(client):
    answers = [client.post(STRENGTH, json={"password": STRONG}).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]


@pytest.mark.parametrize("settings_overrides", [{"password_min_score": 3}])
class TestWithAMinimumScore:
    def test_the_meter_says_whether_the_server_would_take_it(self, client):
        assert client.post(STRENGTH, json={"password": WEAK}).get_json()["acceptable"] is False
        assert client.post(STRENGTH, json={"password": STRONG}).get_json()["acceptable"] is True

    def test_signup_refuses_a_guessable_password_with_the_estimators_feedback(self, client):
        body = {"username": "ada", "email": "ada@example.com", "password": WEAK}
        problem = assert_problem(client.post(SIGNUP, json=body), 422)
        messages = problem["errors"]["password"]
        assert "too easy to guess" in messages[0]
        assert len(messages) > 1  # zxcvbn's own warning or suggestions follow
        assert client.post(SIGNUP, json={**body, "password": STRONG}).status_code == 201

    def test_a_password_made_of_the_username_is_refused(self, client):
        body = {"username": "bartholomew", "email": "b@example.com", "password": "bartholomew2026"}
        assert_problem(client.post(SIGNUP, json=body), 422)

    def test_a_password_change_needs_the_score_too(self, client, accounts):
        ada = accounts.create("ada", password=STRONG)
        change = {"password": WEAK, "current_password": STRONG}
        problem = assert_problem(
            client.patch("/api/v1/users/me", json=change, headers=ada.headers), 422
        )
        assert "too easy to guess" in problem["errors"]["password"][0]
        change["password"] = "an entirely different 58 violet tractors"
        assert client.patch("/api/v1/users/me", json=change, headers=ada.headers).status_code == 200

    def test_a_password_reset_needs_the_score_too(self, app, client, accounts):
        accounts.create("ada", password=STRONG)
        client.post("/api/v1/password-reset", json={"email": "ada@example.com"})
        token = queued_link_token(app, "/reset-password#token=")
        confirm = {"token": token, "password": WEAK}
        problem = assert_problem(client.post("/api/v1/password-reset/confirm", json=confirm), 422)
        assert "too easy to guess" in problem["errors"]["password"][0]
        confirm["password"] = "an entirely different 58 violet tractors"
        assert client.post("/api/v1/password-reset/confirm", json=confirm).status_code == 204


def queued_link_token(app, path):
    """The token in the newest queued message's link, read as the worker would."""
    import json
    import re

    from sqlalchemy import select

    from flaskou.extensions import db
    from flaskou.mail.models import OutboxMessage
    from flaskou.mail.outbox import SEAL_PURPOSE
    from flaskou.sealing import open_sealed

    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "password_reset")
    ).one()
    body = json.loads(open_sealed(app.config["SECRET_KEY"], SEAL_PURPOSE, message.sealed_body))
    return re.search(re.escape(path) + r"([A-Za-z0-9_-]+)", body["text"]).group(1)


@pytest.mark.parametrize("raw", ["5", "-1", "three", "2.5"])
def test_password_min_score_must_be_0_to_4(raw):
    with pytest.raises(ConfigError, match="PASSWORD_MIN_SCORE"):
        Settings.from_env({"PASSWORD_MIN_SCORE": raw})


def test_password_min_score_is_read_from_the_environment():
    assert Settings.from_env({"PASSWORD_MIN_SCORE": "3"}).password_min_score == 3
    assert Settings.from_env({}).password_min_score == 0
