#!/bin/sh
# flaskou's container entry point: at start (never at build time), bring the
# database schema up to date and make the first admin if asked to; then run
# the command (gunicorn by default) as PID 1's replacement.
set -eu

if [ "${1:-}" = "gunicorn" ] && [ "${SKIP_MIGRATIONS:-false}" != "true" ]; then
  flask --app flaskou db upgrade
  if [ -n "${ADMIN_USERNAME:-}" ] || [ -n "${ADMIN_EMAIL:-}" ] || [ -n "${ADMIN_PASSWORD:-}" ]; then
    if [ -z "${ADMIN_USERNAME:-}" ] || [ -z "${ADMIN_EMAIL:-}" ] || [ -z "${ADMIN_PASSWORD:-}" ]; then
      echo "flaskou: set all of ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD to create the first admin" >&2
      exit 2
    fi
    flask --app flaskou ensure-admin
  fi
fi

exec "$@"
