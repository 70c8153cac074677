#!/usr/bin/env bash
# Checks locked dependencies against the known vulnerabilities with pip-audit.
# Usage: scripts/audit-dependencies.sh LOCK_FILE...   (run by `make audit` and `make test`)
#
# pip-audit asks PyPI's JSON API (/pypi/NAME/VERSION/json) or OSV (api.osv.dev).
# Left to itself it says "No known vulnerabilities found" and exits 0 when
# PyPI does not know a version at all (a mirror serving only the simple index
# does that), so: the database is probed first, and pip-audit runs with
# --strict (a dependency it could not check fails the audit).
# When neither database answers from this machine, the audit can say nothing:
# it says so in one loud line and does not fail, or CI would always be red.
# When one answers, any known vulnerability fails the audit.
set -euo pipefail
VENV=${VENV:-.venv}
[ $# -gt 0 ] || { echo "usage: $0 LOCK_FILE..." >&2; exit 2; }

# Prints the service to use ("pypi" or "osv"), or "none" and why not.
probe=$("$VENV/bin/python" - <<'PYTHON'
import importlib.metadata

import requests

# A version PyPI certainly has: the pip-audit running here.
VERSION = importlib.metadata.version("pip-audit")
PYPI = f"https://pypi.org/pypi/pip-audit/{VERSION}/json"
OSV = "https://api.osv.dev/v1/query"


def pypi() -> str | None:
    response = requests.get(PYPI, timeout=15)
    if response.status_code != 200:
        return f"answered {response.status_code}"
    if "vulnerabilities" not in response.json():
        return "has no vulnerabilities field"
    return None


def osv() -> str | None:
    query = {"package": {"name": "pip-audit", "ecosystem": "PyPI"}, "version": VERSION}
    response = requests.post(OSV, json=query, timeout=15)
    if response.status_code != 200:
        return f"answered {response.status_code}"
    response.json()
    return None


def root_cause(error: BaseException) -> str:
    """The innermost error (a DNS failure, a refused connection), not the wrappers."""
    while error.__cause__ or error.__context__:
        error = error.__cause__ or error.__context__
    return f"{type(error).__name__}: {str(error)[:160]}"


reasons = []
for name, url, probe in (("pypi", PYPI, pypi), ("osv", OSV, osv)):
    try:
        reason = probe()
    except (requests.RequestException, ValueError) as error:
        reason = root_cause(error)
    if reason is None:
        print(name)
        break
    reasons.append(f"{url} {reason}")
else:
    print("none", "; ".join(reasons).replace("\n", " "))
PYTHON
)
service=${probe%% *}
if [ "$service" = none ]; then
  echo "flaskou: !!! DEPENDENCY AUDIT SKIPPED: no vulnerability database is reachable from this machine (${probe#none }); $* NOT checked for known vulnerabilities !!!" >&2
  exit 0
fi

requirements=()
for lock in "$@"; do requirements+=(--requirement "$lock"); done
echo "==> pip-audit ($service) of $*"
# --disable-pip --require-hashes: read the pinned, hashed lines as they are; install nothing.
exec "$VENV/bin/pip-audit" --vulnerability-service "$service" --strict --progress-spinner off \
  --disable-pip --require-hashes "${requirements[@]}"
