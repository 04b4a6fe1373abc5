#!/usr/bin/env bash
# A real OpenPBS 23.06 complex beside the Slurm test cluster (issue 26; the traps are in
# ../shared/notes/openpbs-in-a-box.md). Built from ../shared/vendor/openpbs-23.06.06.tar.gz (sha256 checked),
# cached by that checksum, installed to /opt/pbs; server, scheduler, comm, mom and datastore run on one host in
# a private mount namespace whose /etc/hosts maps the host name to the machine's non-loopback address (PBS
# ignores loopback addresses; the machine's /etc/hosts is left alone). It looks like a small site: queues workq
# (default) and gpu, vnodes gpu1/gpu2 (ngpus=4, gpu_type=a100) and cpu1/cpu2, job history on, a second user.
#
# Users reach it through their own login node: an sshd on 127.0.0.1:$HPCB_TC_OPENPBS_SSH_PORT (2225) whose
# sessions have /opt/pbs/bin first on PATH. The sshd on 2222 keeps Debian's Torque-style wrappers over Slurm
# in /usr/bin (the `pbs` torque-flavour cluster), so the two PBS clusters never shadow each other.
#
#   openpbs.sh install   apt-get the build and run packages
#   openpbs.sh build     build and stage OpenPBS (cached by the tarball's sha256)
#   openpbs.sh up        build if needed, install, start everything, configure the site (idempotent)
#   openpbs.sh down      stop the daemons and the sshd (the install stays)
#   openpbs.sh status    exit 0 only when every daemon answers
#   openpbs.sh purge     stop and remove the install, PBS_HOME, config, users, state (not the build cache)
#
# Called by cluster.sh (install, up, down, status, purge). Settings (environment): HPCB_TC_DIR,
# HPCB_TC_USER (alice), HPCB_TC_OPENPBS_SSH_PORT (2225), HPCB_TC_OPENPBS_TARBALL (default: the repository's
# parent's shared/vendor/), HPCB_TC_OPENPBS_CACHE (/var/cache/hpcbridge-testcluster),
# HPCB_TC_OPENPBS_COMM_PORT (17101: pbs_comm's 17001 is a slurmd's here).
set -euo pipefail

DIR=${HPCB_TC_DIR:-/var/lib/hpcbridge-testcluster}
TC_USER=${HPCB_TC_USER:-alice}
SECOND_USER=bob
ACCOUNT=proj-alpha # an Account_Name in use: jobs of the recorded fixtures carry it
SSH_PORT=${HPCB_TC_OPENPBS_SSH_PORT:-2225}
COMM_PORT=${HPCB_TC_OPENPBS_COMM_PORT:-17101}
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
TARBALL=${HPCB_TC_OPENPBS_TARBALL:-$(dirname "$ROOT")/shared/vendor/openpbs-23.06.06.tar.gz}
SHA256=8223d49572e13f07c38d724ead9e7220092c8900a7b7cdf7c4bda89db21303cf
CACHE_ROOT=${HPCB_TC_OPENPBS_CACHE:-/var/cache/hpcbridge-testcluster}
CACHE=$CACHE_ROOT/openpbs-$SHA256
PBS_EXEC=/opt/pbs
PBS_HOME=/var/spool/pbs
DB_USER=pbsdata
NSPID=$DIR/openpbs-ns.pid # a process that holds the daemons' mount namespace (for nsenter)
HOSTS=$DIR/openpbs-hosts
BUILD_PACKAGES=(gcc g++ make libtool autoconf automake libhwloc-dev libx11-dev libxt-dev libedit-dev
  libical-dev libncurses-dev perl libpq-dev python3-dev tcl-dev tk-dev swig libexpat1-dev libssl-dev
  libxext-dev libxft-dev)
RUN_PACKAGES=(expat libedit2 postgresql postgresql-contrib python3 tcl tk libical3 sudo util-linux iproute2)

LOG_TAG=testcluster/openpbs
# shellcheck source=common.sh
. "$(dirname "$(readlink -f "$0")")/common.sh"
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it installs to /opt/pbs and starts the PBS daemons)"; }

cmd_install() {
  need_root
  local missing=() p
  for p in "${BUILD_PACKAGES[@]}" "${RUN_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then log "packages present"; return; fi
  log "installing ${missing[*]}"
  # --no-install-recommends: recommends would pull sendmail and a newer PostgreSQL server (see the notes)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; }
}

check_tarball() {
  [ -f "$TARBALL" ] || die "OpenPBS source not found at $TARBALL: the test cluster builds it from the shared \
vendor directory beside the repository (../shared/vendor/openpbs-23.06.06.tar.gz), or set HPCB_TC_OPENPBS_TARBALL"
  local sum; sum=$(sha256sum "$TARBALL" | cut -d' ' -f1)
  [ "$sum" = "$SHA256" ] || die "$TARBALL has sha256 $sum, expected $SHA256: not building it"
}

cmd_build() {
  need_root
  [ -e "$CACHE/.complete" ] && return 0
  check_tarball
  local started; started=$(date +%s)
  log "building OpenPBS into $CACHE (a few minutes; cached by the tarball's sha256 afterwards)"
  rm -rf "$CACHE"; mkdir -p "$CACHE/src"
  tar -xzf "$TARBALL" -C "$CACHE/src" --strip-components=1
  (
    cd "$CACHE/src"
    # Python 3.11 removed eval.h; upstream later included Python.h instead (PyEval_EvalCode is declared there)
    sed -i 's|^#include <eval.h>.*|#include <Python.h>|' src/lib/Libpython/pbs_python_external.c
    ./autogen.sh >"$CACHE/build.log" 2>&1
    # --with-python=/usr: else a Python earlier on PATH (a pyenv shim, a venv) is baked in
    ./configure --prefix="$PBS_EXEC" --with-python=/usr >>"$CACHE/build.log" 2>&1
    make -j"$(nproc)" >>"$CACHE/build.log" 2>&1
    make install DESTDIR="$CACHE/stage" >>"$CACHE/build.log" 2>&1
  ) || die "the OpenPBS build failed: see the end of $CACHE/build.log"
  rm -rf "$CACHE/src"
  echo "$(($(date +%s) - started))" >"$CACHE/build-seconds"
  touch "$CACHE/.complete"
  log "built in $(cat "$CACHE/build-seconds")s"
}

install_pbs() {
  # /opt/pbs from the staged build; /etc/profile.d/pbs.sh is left out on purpose (it would put OpenPBS in front
  # of the Torque-style wrappers on every login: see the sshd below for who sees which)
  [ "$(cat "$PBS_EXEC/.hpcbridge-build" 2>/dev/null)" = "$SHA256" ] && return 0
  log "installing OpenPBS to $PBS_EXEC"
  rm -rf "$PBS_EXEC"
  cp -a "$CACHE/stage$PBS_EXEC" "$PBS_EXEC"
  chmod 4755 "$PBS_EXEC/sbin/pbs_iff" "$PBS_EXEC/sbin/pbs_rcp" # as INSTALL asks: clients authenticate through it
  echo "$SHA256" >"$PBS_EXEC/.hpcbridge-build"
}

make_users() {
  # The datastore is a PostgreSQL instance run as server_priv/db_user (never root): a user with a home and a
  # shell, in group postgres to write its socket into /var/run/postgresql.
  id "$DB_USER" >/dev/null 2>&1 || useradd -r -m -d "/var/lib/$DB_USER" -s /bin/bash -G postgres "$DB_USER"
  id "$SECOND_USER" >/dev/null 2>&1 || { log "creating user $SECOND_USER"; useradd -m -s /bin/bash "$SECOND_USER"; }
}

write_conf() {
  cat >/etc/pbs.conf <<EOF
PBS_SERVER=$(hostname)
PBS_START_SERVER=1
PBS_START_SCHED=1
PBS_START_COMM=1
PBS_START_MOM=1
PBS_EXEC=$PBS_EXEC
PBS_HOME=$PBS_HOME
PBS_CORE_LIMIT=unlimited
PBS_SCP=/usr/bin/scp
PBS_COMM_NAME=$(hostname):$COMM_PORT
PBS_LEAF_ROUTERS=$(hostname):$COMM_PORT
EOF
  chmod 644 /etc/pbs.conf
}

ns_pid() { cat "$NSPID" 2>/dev/null; }

ns_alive() { # the holder lives, in a mount namespace of its own, with our hosts file mounted
  local pid; pid=$(ns_pid)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    [ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] &&
    nsenter -t "$pid" -m -- cmp -s "$HOSTS" /etc/hosts
}

in_ns() { nsenter -t "$(ns_pid)" -m -- "$@"; }

start_namespace() {
  # PBS ignores loopback addresses and the host name resolves to 127.0.0.1 here: the daemons get a hosts file
  # of their own that maps it to the machine's first global IPv4 address.
  ns_alive && return 0
  local addr; addr=$(ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}')
  [ -n "$addr" ] || die "no non-loopback IPv4 address on this machine: PBS cannot run on loopback only"
  printf '127.0.0.1\tlocalhost\n%s\t%s\n' "$addr" "$(hostname)" >"$HOSTS"
  chmod 644 "$HOSTS"
  stop_daemons # any left from an earlier namespace would hold the ports
  setsid unshare --mount --propagation private -- sh -c "mount --bind '$HOSTS' /etc/hosts && exec sleep infinity" \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$NSPID"
  wait_for 10 "the PBS mount namespace" ns_alive
}

daemon_pids() { # the pids in the daemons' lock files (server, scheduler, mom, comm)
  local f
  for f in server_priv/server.lock sched_priv/sched.lock mom_priv/mom.lock server_priv/comm.lock; do
    if [ -s "$PBS_HOME/$f" ]; then head -1 "$PBS_HOME/$f" | tr -dc '0-9'; echo; fi
  done
  return 0
}

daemons_running() {
  local pid n=0
  for pid in $(daemon_pids); do kill -0 "$pid" 2>/dev/null || return 1; n=$((n + 1)); done
  [ "$n" -ge 4 ]
}

server_answers() { "$PBS_EXEC/bin/qstat" -B >/dev/null 2>&1; }

stop_daemons() {
  if ns_alive; then in_ns "$PBS_EXEC/libexec/pbs_init.d" stop >>"$DIR/log/openpbs.log" 2>&1 || true; fi
  local pid
  for pid in $(daemon_pids); do kill "$pid" 2>/dev/null || true; done
  if id "$DB_USER" >/dev/null 2>&1; then pkill -u "$DB_USER" postgres 2>/dev/null || true; fi
}

start_daemons() {
  daemons_running && server_answers && return 0
  log "starting the OpenPBS daemons (server, scheduler, comm, mom, datastore)"
  # The first start runs pbs_habitat on the empty PBS_HOME: postinstall, the datastore, the server object and
  # workq. Habitat writes server_priv/db_user from PBS_DATA_SERVICE_USER (postinstall ignores that variable).
  # A datastore left by a failed first start makes later starts exit silently: start it afresh then.
  [ -s "$PBS_HOME/server_priv/db_user" ] || rm -rf "$PBS_HOME"
  in_ns env PBS_DATA_SERVICE_USER="$DB_USER" "$PBS_EXEC/libexec/pbs_init.d" start >>"$DIR/log/openpbs.log" 2>&1 ||
    die "pbs_init.d start failed: see $DIR/log/openpbs.log and $PBS_HOME/server_logs"
  [ "$(cat "$PBS_HOME/server_priv/db_user")" = "$DB_USER" ] || die "the datastore user is not $DB_USER"
  wait_for 60 "pbs_server" server_answers
}

qmgr_ns() { in_ns "$PBS_EXEC/bin/qmgr" -c "$1"; }

configure_server() {
  local host; host=$(hostname)
  qmgr_ns "set server flatuid = true" # clients outside the namespace are user@localhost to the server
  qmgr_ns "set server job_history_enable = true"
  qmgr_ns "set server scheduler_iteration = 10"
  qmgr_ns "set server operators = $SECOND_USER@*" # a site's operator: the privileges resource reads this list
  qmgr_ns "list resource ngpus" >/dev/null 2>&1 || qmgr_ns "create resource ngpus type=long, flag=nh"
  qmgr_ns "list resource gpu_type" >/dev/null 2>&1 || qmgr_ns "create resource gpu_type type=string, flag=h"
  qmgr_ns "list queue gpu" >/dev/null 2>&1 || qmgr_ns "create queue gpu queue_type=execution"
  qmgr_ns "set queue gpu enabled = true, started = true, resources_max.walltime = 24:00:00"
  # a limit as sites set them (issue 28: limits before submitting): each user's running GPUs in the gpu queue
  qmgr_ns "set queue gpu max_run_res.ngpus = [u:PBS_GENERIC=6]"
  qmgr_ns "set queue workq resources_max.walltime = 168:00:00"
  qmgr_ns "list node $host" >/dev/null 2>&1 || qmgr_ns "create node $host"
  local sched=$PBS_HOME/sched_priv/sched_config
  local hup=0
  if ! grep -q '^resources:.*ngpus' "$sched"; then
    sed -i 's/^resources: "\(.*\)"/resources: "\1, ngpus, gpu_type"/' "$sched"
    hup=1
  fi
  # Issue 28: strict ordering (with the default backfill_depth 1) makes the scheduler calendar the top job
  # and set its estimated.start_time / estimated.exec_vnode, as sites that backfill see them. OpenPBS 23.06
  # has no est_start_time_freq (qmgr: "Syntax error"): estimates exist for calendared jobs only.
  if grep -q '^strict_ordering:[[:space:]]*false' "$sched"; then
    sed -i 's/^strict_ordering:[[:space:]]*false/strict_ordering: true/' "$sched"
    hup=1
  fi
  if [ "$hup" = 1 ]; then kill -HUP "$(head -1 "$PBS_HOME/sched_priv/sched.lock")"; fi
}

configure_mom() {
  # One mom presents four vnodes; the natural vnode (the host) offers nothing, so jobs land on the vnodes.
  local host file=$DIR/openpbs-vnodes conf=$PBS_HOME/mom_priv/config n
  host=$(hostname)
  {
    echo "\$configversion 2"
    echo "$host: resources_available.ncpus = 0"
    for n in gpu1 gpu2; do
      printf '%s: resources_available.%s\n' "$n" "ncpus = 8" "$n" "mem = 16gb" "$n" "ngpus = 4" \
        "$n" "gpu_type = a100" "$n" "host = $n"
    done
    for n in cpu1 cpu2; do
      printf '%s: resources_available.%s\n' "$n" "ncpus = 4" "$n" "mem = 8gb" "$n" "host = $n"
    done
  } >"$file"
  local want changed=0
  # $usecp: outputs are copied locally, not over scp; check_poll: walltime overruns are noticed within seconds
  want=$(printf '$clienthost %s\n$usecp *:/ /\n$min_check_poll 2\n$max_check_poll 5' "$host")
  if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then printf '%s\n' "$want" >"$conf"; changed=1; fi
  if ! in_ns "$PBS_EXEC/sbin/pbs_mom" -s show hpcb_vnodes 2>/dev/null | cmp -s - "$file"; then
    in_ns "$PBS_EXEC/sbin/pbs_mom" -s remove hpcb_vnodes >/dev/null 2>&1 || true
    in_ns "$PBS_EXEC/sbin/pbs_mom" -s insert hpcb_vnodes "$file"
    changed=1
  fi
  if [ "$changed" = 1 ]; then kill -HUP "$(head -1 "$PBS_HOME/mom_priv/mom.lock")"; fi
  wait_for 60 "the vnodes gpu1 gpu2 cpu1 cpu2" vnodes_free
  for n in gpu1 gpu2; do qmgr_ns "set node $n queue = gpu"; done # the gpu queue owns the GPU vnodes
}

vnodes_free() {
  local out n; out=$("$PBS_EXEC/bin/pbsnodes" -av 2>/dev/null) || return 1
  for n in gpu1 gpu2 cpu1 cpu2; do
    printf '%s\n' "$out" | awk -v n="$n" '$0 == n {f=1; next} /^[^ ]/ {f=0} f && /state = /' |
      grep -Eq 'state = (free|job-busy|job-exclusive)' || return 1
  done
}

seed_jobs() {
  # A second user with an account: a held job in the queue and a finished one in the history
  [ -e "$DIR/openpbs-seeded" ] && return 0
  local qsub=$PBS_EXEC/bin/qsub
  (cd / && su "$SECOND_USER" -s /bin/sh -c "cd && echo 'sleep 3600' | $qsub -h -N held-analysis -A $ACCOUNT \
    -q workq -l select=1:ncpus=1 -l walltime=02:00:00 && echo true | $qsub -N quick-check -A $ACCOUNT \
    -l select=1:ncpus=1 -l walltime=00:05:00") >/dev/null
  touch "$DIR/openpbs-seeded"
}

OPENPBS_PATH=$PBS_EXEC/bin:/usr/local/bin:/usr/bin:/bin

write_sshd_config() {
  printf '%s\n' "Port $SSH_PORT" "ListenAddress 127.0.0.1" "HostKey $DIR/ssh_host_ed25519_key" \
    "PidFile $DIR/sshd-openpbs.pid" "PasswordAuthentication no" "KbdInteractiveAuthentication no" \
    "PubkeyAuthentication yes" "UsePAM no" "StrictModes no" "MaxSessions 10" "MaxStartups 100:30:200" \
    "Subsystem sftp /usr/lib/openssh/sftp-server" "SetEnv PATH=$OPENPBS_PATH" >"$DIR/sshd-openpbs_config"
  # Debian's /etc/profile resets PATH in login shells: those that came in on this port get OpenPBS first too
  printf '%s\n' "# hpcbridge test cluster: logins on port $SSH_PORT are the OpenPBS site's (testcluster/openpbs.sh)" \
    "case \"\${SSH_CONNECTION:-}\" in *\" $SSH_PORT\") PATH=$PBS_EXEC/bin:\$PATH ;; esac" \
    >/etc/profile.d/hpcbridge-openpbs.sh
}

start_sshd() {
  # The OpenPBS site's login node: the same test user and key, OpenPBS's commands first on PATH
  [ -s "$DIR/ssh_host_ed25519_key" ] || die "no $DIR/ssh_host_ed25519_key: run 'cluster.sh up' (it makes it)"
  write_sshd_config
  if ! { [ -s "$DIR/sshd-openpbs.pid" ] && kill -0 "$(cat "$DIR/sshd-openpbs.pid")" 2>/dev/null; }; then
    log "starting sshd-openpbs on 127.0.0.1:$SSH_PORT"
    /usr/sbin/sshd -f "$DIR/sshd-openpbs_config" -E "$DIR/log/sshd-openpbs.log"
  fi
  local line; line="[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$DIR/ssh_host_ed25519_key.pub")"
  grep -qxF "$line" "$DIR/known_hosts" 2>/dev/null || echo "$line" >>"$DIR/known_hosts"
  wait_for 20 "ssh login as $TC_USER on $SSH_PORT reaching OpenPBS's qstat" ssh -p "$SSH_PORT" -i "$DIR/user_key" \
    -o BatchMode=yes -o UserKnownHostsFile="$DIR/known_hosts" -o StrictHostKeyChecking=yes "$TC_USER@127.0.0.1" \
    "test \"\$(command -v qstat)\" = $PBS_EXEC/bin/qstat"
}

write_env() {
  local version; version=$("$PBS_EXEC/bin/qstat" --version | sed 's/^.* = //')
  printf '%s\n' "OPENPBS_SSH_HOST=127.0.0.1" "OPENPBS_SSH_PORT=$SSH_PORT" "OPENPBS_SSH_USER=$TC_USER" \
    "OPENPBS_SSH_KEY_PATH=$DIR/user_key" "OPENPBS_SSH_KNOWN_HOSTS=$DIR/known_hosts" "OPENPBS_SERVER=$(hostname)" \
    "OPENPBS_VERSION=$version" "OPENPBS_DEFAULT_QUEUE=workq" "OPENPBS_GPU_QUEUE=gpu" \
    "OPENPBS_SECOND_USER=$SECOND_USER" "OPENPBS_ACCOUNT=$ACCOUNT" "OPENPBS_EXEC=$PBS_EXEC" >"$DIR/openpbs.env"
  chmod 644 "$DIR/openpbs.env"
}

cmd_up() {
  need_root
  local started built; started=$(date +%s)
  mkdir -p "$DIR/log"
  cmd_build
  built=$(date +%s)
  install_pbs
  make_users
  write_conf
  start_namespace
  start_daemons
  configure_server
  configure_mom
  seed_jobs
  start_sshd
  write_env
  log "up in $(($(date +%s) - started))s (build $((built - started))s): queues $("$PBS_EXEC/bin/qstat" -Q |
    awk 'NR > 2 {printf "%s ", $1}')| ssh $TC_USER@127.0.0.1 -p $SSH_PORT"
}

cmd_down() {
  need_root
  if [ -s "$DIR/sshd-openpbs.pid" ]; then kill "$(cat "$DIR/sshd-openpbs.pid")" 2>/dev/null || true; fi
  if [ -x "$PBS_EXEC/libexec/pbs_init.d" ]; then stop_daemons; fi
  if [ -n "$(ns_pid)" ]; then kill "$(ns_pid)" 2>/dev/null || true; fi
  rm -f "$NSPID"
  log "down"
}

cmd_purge() {
  need_root
  cmd_down
  local u
  for u in "$SECOND_USER" "$DB_USER"; do
    if id "$u" >/dev/null 2>&1; then
      pkill -KILL -u "$u" 2>/dev/null || true
      sleep 0.5
      userdel -r "$u" 2>/dev/null || userdel "$u" 2>/dev/null || true
    fi
  done
  rm -rf "$PBS_EXEC" "$PBS_HOME" /etc/pbs.conf /etc/profile.d/hpcbridge-openpbs.sh "$DIR"/openpbs* \
    "$DIR"/sshd-openpbs* "$DIR/log/openpbs.log" "$DIR/log/sshd-openpbs.log"
  if [ -f "$DIR/known_hosts" ]; then sed -i "/^\[127.0.0.1\]:$SSH_PORT /d" "$DIR/known_hosts"; fi
  log "purged (the build cache $CACHE stays)"
}

cmd_status() {
  local ok=0
  check() { if "$@" >/dev/null 2>&1; then printf '  %-12s up\n' "$NAME"; else printf '  %-12s DOWN\n' "$NAME"; ok=1; fi; }
  NAME=pbs-daemons check daemons_running
  NAME=pbs_server check server_answers
  NAME=pbs-vnodes check vnodes_free
  NAME=sshd-openpbs check sh -c "kill -0 \$(cat '$DIR/sshd-openpbs.pid')"
  return $ok
}

case "${1:-}" in
  install) cmd_install ;;
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  purge) cmd_purge ;;
  *) echo "usage: $0 install|build|up|down|status|purge" >&2; exit 2 ;;
esac
