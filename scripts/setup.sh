#!/usr/bin/env bash
# Shared by demo.sh and test.sh: Debian packages, the test cluster, and hpcbridge in .venv.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${HPCBRIDGE_VENV:-$ROOT/.venv}

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "run as root (the test cluster starts slurmctld, slurmd, sshd and MariaDB): sudo $0" >&2
  exit 1
fi

bash "$ROOT/testcluster/cluster.sh" install
# the dashboard's browser tests drive Debian's chromium (Playwright's own browser download needs more network)
if ! dpkg -s chromium >/dev/null 2>&1; then
  log "installing chromium for the dashboard's browser tests"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi
bash "$ROOT/testcluster/cluster.sh" up

if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    log "python3-venv missing; installing it"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv python3-pip
    python3 -m venv "$VENV"
  fi
fi
log "installing hpcbridge and its test extras into $VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install -q -e "$ROOT[test]"
