#!/usr/bin/env bash
# The whole test suite: unit, integration (real Slurm cluster) and end-to-end (real MCP client).
# Extra arguments go to pytest, e.g. ./scripts/test.sh tests/unit -x
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" = 0 ] || exec sudo -E "$0" "$@"
bash "$ROOT/scripts/setup.sh"
VENV=${HPCBRIDGE_VENV:-$ROOT/.venv}
cd "$ROOT"
export HPCBRIDGE_REQUIRE_CLUSTER=1
# the history store's tests also run on the PostgreSQL that the test cluster starts
TC_DIR=${HPCB_TC_DIR:-/var/lib/hpcbridge-testcluster}
if [ -f "$TC_DIR/postgres.env" ]; then set -a; . "$TC_DIR/postgres.env"; set +a; fi
exec "$VENV/bin/python" -m pytest -q "${@:-tests}"
