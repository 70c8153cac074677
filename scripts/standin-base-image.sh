#!/usr/bin/env bash
# Prints the base image flaskou's image is built from on this machine (the
# Dockerfile's BASE_IMAGE), making it first when needed:
#   - python:3.12-slim itself when buildah already has it locally;
#   - otherwise localhost/python-standin:3, a stand-in made here without any
#     container registry: a minimal Debian 12 root (debootstrap, from Debian's
#     package mirror) with python3 and python3-venv, committed with buildah.
#     It is made once per machine (about two minutes) and reused afterwards.
# Usage (root, to make the stand-in):  BASE=$(scripts/standin-base-image.sh)
#   buildah bud --isolation chroot --build-arg BASE_IMAGE=$BASE -t flaskou .
# Progress goes to stderr; stdout carries only the image name.
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin # debootstrap lives there
REAL=${FLASKOU_REAL_BASE_IMAGE:-docker.io/library/python:3.12-slim}
IMAGE=${FLASKOU_STANDIN_IMAGE:-localhost/python-standin:3}
SUITE=bookworm # Debian 12
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { echo "flaskou: $*" >&2; }
have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    say "the image build needs buildah and debootstrap (sudo apt-get install -y buildah debootstrap)"
    exit 1
  fi
  say "installing buildah and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null
fi

if have_image "$REAL"; then
  echo "$REAL"
  exit 0
fi

# Two test runs may get here at once: one builds, the other waits and reuses.
exec 9>"${TMPDIR:-/tmp}/flaskou-standin-image.lock"
flock 9
if have_image "$IMAGE"; then
  echo "$IMAGE"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  say "making the stand-in base image $IMAGE needs root (debootstrap)"
  exit 1
fi

say "no $REAL here: making the stand-in $IMAGE (Debian 12 + python3, once per machine)"
rootfs=$(mktemp -d "${TMPDIR:-/tmp}/flaskou-standin.XXXXXX")
container=
cleanup() {
  [ -z "$container" ] || buildah rm "$container" >/dev/null 2>&1 || true
  rm -rf "$rootfs"
}
trap cleanup EXIT

# minbase has apt, dpkg and passwd (groupadd/useradd, which the Dockerfile
# runs); python3-venv brings ensurepip's pip, which the build stage uses.
debootstrap --variant=minbase \
  --include=python3,python3-venv,python-is-python3,ca-certificates \
  "$SUITE" "$rootfs" "$MIRROR" >&2
# The build stage's pip reaches PyPI the way this machine does (possibly via
# a TLS-inspecting proxy whose CA is only in the host's bundle); Debian's pip
# reads the system bundle, so the stand-in trusts what the host trusts.
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
# Like python:3.12-slim: nothing left in apt's caches and lists.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

container=$(buildah from scratch)
buildah copy --quiet "$container" "$rootfs" / >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 \
  --cmd python3 \
  --label org.opencontainers.image.description="flaskou's local stand-in for $REAL" \
  "$container"
buildah commit --quiet "$container" "$IMAGE" >/dev/null
say "made $IMAGE"
echo "$IMAGE"
