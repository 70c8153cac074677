#!/usr/bin/env bash
# Installs the system services the test suite drives for real (PostgreSQL
# server binaries, Redis, nginx, Chromium, curl; zbar-tools, whose zbarimg reads
# the enrolment QR code back; buildah and debootstrap to build and run the
# container image without a daemon), when they are missing.
# Needs root for apt-get.
set -euo pipefail

missing=()
if ! command -v pg_ctl >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  missing+=(postgresql)
fi
command -v redis-server >/dev/null || missing+=(redis-server)
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v zbarimg >/dev/null || missing+=(zbar-tools)
command -v buildah >/dev/null || missing+=(buildah)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "flaskou: tests need: ${missing[*]} (sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "flaskou: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
