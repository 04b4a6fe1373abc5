#!/usr/bin/env bash
# Demo: bring up the bundled test cluster and an hpcbridge server connected to it.
#   ./scripts/demo.sh            setup, check, then serve MCP over HTTP on 127.0.0.1:8765 (Ctrl-C stops)
#   ./scripts/demo.sh --no-serve setup and check only (what CI runs)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" = 0 ] || exec sudo -E "$0" "$@"
bash "$ROOT/scripts/setup.sh"
VENV=${HPCBRIDGE_VENV:-$ROOT/.venv}
set -a
# shellcheck disable=SC1091
. "${HPCB_TC_DIR:-/var/lib/hpcbridge-testcluster}/connection.env"
set +a
# Three clusters: "default" (Slurm, from connection.env), "pbs" (the test cluster's real OpenPBS 23.06
# complex, from openpbs.env: its own login sshd) and "torque" (the Slurm machine again through Debian's
# Torque-style slurm-wlm-torque wrappers: the Torque flavour, text qstat and qsub by file).
# shellcheck disable=SC1091
. "${HPCB_TC_DIR:-/var/lib/hpcbridge-testcluster}/openpbs.env"
export HPCBRIDGE_CONFIG="${HPCB_TC_DIR:-/var/lib/hpcbridge-testcluster}/demo-clusters.toml"
cat > "$HPCBRIDGE_CONFIG" <<TOML
[clusters.pbs]
scheduler = "pbs"
host = "$OPENPBS_SSH_HOST"
port = $OPENPBS_SSH_PORT
user = "$OPENPBS_SSH_USER"
key_path = "$OPENPBS_SSH_KEY_PATH"
known_hosts = "$OPENPBS_SSH_KNOWN_HOSTS"
default_partition = "$OPENPBS_DEFAULT_QUEUE"
user_root = "$SLURM_USER_ROOT"

[clusters.torque]
scheduler = "pbs"
host = "$SLURM_SSH_HOST"
port = $SLURM_SSH_PORT
user = "$SLURM_SSH_USER"
key_path = "$SLURM_SSH_KEY_PATH"
known_hosts = "$SLURM_SSH_KNOWN_HOSTS"
default_partition = "cpu"
user_root = "$SLURM_USER_ROOT"
TOML
"$VENV/bin/hpcbridge" check
"$VENV/bin/hpcbridge" call get_gpu_availability
"$VENV/bin/hpcbridge" call get_partition_info cluster=pbs
"$VENV/bin/hpcbridge" call get_partition_info cluster=torque
[ "${1:-}" = "--no-serve" ] && exit 0
# The server generates its bearer token into its state directory (mode 0600) and logs only where it is.
export HPCBRIDGE_STATE_DIR=${HPCBRIDGE_STATE_DIR:-${HPCB_TC_DIR:-/var/lib/hpcbridge-testcluster}/hpcbridge-state}
TOKEN_FILE=$HPCBRIDGE_STATE_DIR/http-token
cat <<MSG

hpcbridge is connected to the test cluster. Connect an MCP client:
  stdio (Claude Code):  claude mcp add hpcbridge -- env HPCBRIDGE_CONFIG=$HPCBRIDGE_CONFIG $(tr '\n' ' ' < "${HPCB_TC_DIR:-/var/lib/hpcbridge-testcluster}/connection.env")$VENV/bin/hpcbridge serve
  HTTP (starting now):  http://127.0.0.1:8765/mcp  with  Authorization: Bearer \$(cat $TOKEN_FILE)
  dashboard:            http://127.0.0.1:8765/  (log in with the contents of $TOKEN_FILE)
  one tool from a shell: $VENV/bin/hpcbridge call list_jobs user=me
  OpenPBS 23.06:         $VENV/bin/hpcbridge call list_jobs user=me cluster=pbs
  the Torque wrappers:   $VENV/bin/hpcbridge call list_jobs user=me cluster=torque
MSG
exec "$VENV/bin/hpcbridge" serve --transport http --host 127.0.0.1 --port 8765
