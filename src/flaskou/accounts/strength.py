"""How guessable a password is: zxcvbn's score (0-4) and its advice.

Used for PASSWORD_MIN_SCORE on every new password (sign-up, change, reset)
and by the strength meter (`POST /api/v1/password-strength`). The username
and email count against a password that contains them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from flask import current_app, has_app_context
from zxcvbn import zxcvbn

PASSWORD_MIN = 8
PASSWORD_MAX = 1024

# zxcvbn's own bound (its matching grows quickly with length). Past this many
# characters the score only rises, so the first 72 decide it.
ESTIMATED_CHARS = 72
BEST_SCORE = 4


@dataclasses.dataclass(frozen=True)
class Strength:
    score: int
    feedback: list[str]


def required_score() -> int:
    """PASSWORD_MIN_SCORE of the running app (0: no requirement)."""
    if not has_app_context():
        return 0
    return int(current_app.config["SETTINGS"].password_min_score)


def estimate(password: str, context: Iterable[str | None] = ()) -> Strength:
    if not password:  # zxcvbn itself fails on an empty string
        return Strength(0, [])
    hints: list[str] = []
    for value in context:
        if value:
            hints.append(value)
            if "@" in value:
                hints.append(value.partition("@")[0])
    result = zxcvbn(password[:ESTIMATED_CHARS], user_inputs=hints)
    advice = result.get("feedback") or {}
    feedback = [advice["warning"]] if advice.get("warning") else []
    feedback.extend(advice.get("suggestions") or [])
    return Strength(int(result["score"]), feedback)


def weakness(password: str, context: Iterable[str | None] = ()) -> list[str] | None:
    """Why a new password is too easy to guess for this server, or None."""
    needed = required_score()
    if needed <= 0:
        return None
    strength = estimate(password, context)
    if strength.score >= needed:
        return None
    return [
        f"This password is too easy to guess (strength {strength.score} of {BEST_SCORE}; "
        f"this server needs {needed}).",
        *strength.feedback,
    ]


def password_errors(password: str, context: Iterable[str | None] = ()) -> list[str] | None:
    """Why a new password is refused: its length, or (PASSWORD_MIN_SCORE) how
    easy it is to guess, given the account's username and email."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return [f"Use {PASSWORD_MIN} to {PASSWORD_MAX} characters."]
    return weakness(password, context)
