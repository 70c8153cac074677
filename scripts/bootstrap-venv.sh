#!/usr/bin/env bash
# Creates the virtualenv and installs the locked dependencies (requirements/dev.txt:
# runtime and dev tools) and flaskou into it.
# On a fresh Debian/Ubuntu machine python3 may lack venv; as root we install it.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "flaskou: installing python3-venv" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv "$VENV"
    else
      echo "flaskou: '$PYTHON -m venv' failed; install python3-venv (sudo apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
# Exactly the locked versions, each file checked against its hash (the lock
# pins pip too, so pip upgrades itself to the locked one), with the locked
# build backend; then flaskou itself, editable, built by that backend (no
# isolated build fetching whatever setuptools is newest) and with no
# dependency resolution of its own.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
  -r requirements/dev.txt -r requirements/build.txt
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  --no-build-isolation -e .
