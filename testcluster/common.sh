# Shared by cluster.sh and openpbs.sh (sourced): messages, failure, waiting on an event. Set LOG_TAG first.

log() { printf '[%s] %s\n' "${LOG_TAG:-testcluster}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

wait_for() { # wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2 s until it succeeds
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "timed out after ${secs}s waiting for $what"
}
