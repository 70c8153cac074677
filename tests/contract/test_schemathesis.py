"""The OpenAPI document is exact: schemathesis, with every check it has,
finds nothing against a real gunicorn, on the engine of this run.

Every check means: no 5xx; every status, media type, header and body is one
the document lists for the operation; a request the schema allows is not
refused (no 400/413/415/422 for it); a request it forbids is refused; auth is
enforced where declared; a deleted resource stays gone, a created one is
found; only documented methods are allowed. Phases: examples, coverage,
fuzzing and the stateful phase that follows the document's links.

Three callers: anonymous, a user and an admin. The user and the admin sign
in through tests/contract/hooks.py, which survives whatever the run does to
them (log out everywhere, deletion, losing the admin role).

Two seeds per caller: a fixed one, so a failure here reproduces, and one
that changes every day (or FLASKOU_CONTRACT_SEED), so the runs keep
exploring. Each run is bounded by its example count and a timeout.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import ROOT, Server

pytestmark = [pytest.mark.slow]

FIXED_SEED = 20261124
ROTATING_SEED = int(
    os.environ.get("FLASKOU_CONTRACT_SEED") or datetime.date.today().strftime("%Y%m%d")
)
PASSWORD = "contract password"
MAX_EXAMPLES = 25
RUN_TIMEOUT = 420


def _schemathesis(server: Server, env: dict[str, str], caller: str, seed: int, cwd: Path) -> str:
    run_env = {
        **env,
        "PYTHONPATH": str(ROOT),
        "FUZZ_BASE": server.base,
        "FUZZ_ROLE": caller,
        "FUZZ_PASSWORD": PASSWORD,
        "NO_COLOR": "1",
    }
    if caller != "anonymous":
        run_env["SCHEMATHESIS_HOOKS"] = "tests.contract.hooks"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{server.base}/api/v1/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(seed),
            "--request-timeout",
            "30",
        ],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
        cwd=cwd,  # its .hypothesis/ and reports stay out of the repository
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"schemathesis as {caller}, seed {seed} "
        f"(reproduce: FLASKOU_CONTRACT_SEED={seed}):\n{output[-12000:]}"
    )
    return output


@pytest.mark.parametrize("caller", ["anonymous", "user", "admin"])
@pytest.mark.parametrize("seed", [FIXED_SEED, ROTATING_SEED], ids=["fixed-seed", "rotating-seed"])
def test_the_document_is_exact(app, migrated_database, tmp_path, caller, seed):
    env = {
        "DATABASE_URL": migrated_database,
        "SECRET_KEY": "contract-secret-contract-secret-contract",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        # The hooks sign in again whenever the run has revoked their session.
        "RATE_LIMIT_LOGIN": "100000 per minute",
        "RATE_LIMIT_SIGNUP": "1000000 per hour",
        "RATE_LIMIT_MAIL": "1000000 per hour",
    }
    server = Server(env, workers=1, log_path=tmp_path / "gunicorn.log").start()
    try:
        output = _schemathesis(server, {**os.environ, **env}, caller, seed, tmp_path)
    finally:
        server.stop()
    # Every phase ran and exercised the operations (not skipped wholesale).
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"{phase} (in" in output, output[-4000:]
    assert " 500 " not in (tmp_path / "gunicorn.log").read_text()
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()
