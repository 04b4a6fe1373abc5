#!/usr/bin/env bash
# A local base image for the Containerfile where no container registry is reachable (only Debian's mirror):
# Debian 12 with python3 and python3-venv, made with debootstrap and imported as localhost/hpcbridge-base:bookworm.
# Then: podman build --build-arg BASE=localhost/hpcbridge-base:bookworm -f Containerfile .
# Idempotent: does nothing when the image exists. As root.
set -euo pipefail
IMAGE=${1:-localhost/hpcbridge-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
podman image exists "$IMAGE" && { echo "$IMAGE exists"; exit 0; }
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
root=$(mktemp -d /var/tmp/hpcbridge-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$MIRROR"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$IMAGE"
