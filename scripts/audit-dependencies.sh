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


def pypi() -> str | None:
    url = f"https://pypi.org/pypi/pip-audit/{VERSION}/json"
    response = requests.get(url, timeout=15)
    if response.status_code != 200:
        return f"{url} answered {response.status_code}"
    if "vulnerabilities" not in response.json():
        return f"{url} has no vulnerabilities field"
    return None


def osv() -> str | None:
    url = "https://api.osv.dev/v1/query"
    query = {"package": {"name": "pip-audit", "ecosystem": "PyPI"}, "version": VERSION}
    response = requests.post(url, json=query, timeout=15)
    if response.status_code != 200:
        return f"{url} answered {response.status_code}"
    response.json()
    return None


reasons = []
for name, probe in (("pypi", pypi), ("osv", osv)):
    try:
        reason = probe()
    except (requests.RequestException, ValueError) as error:
        reason = f"{type(error).__name__}: {str(error)[:160]}"
    if reason is None:
        print(name)
        break
    reasons.append(f"{name}: {reason}")
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
