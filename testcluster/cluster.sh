#!/usr/bin/env bash
# The hpcbridge test cluster: a real Slurm 22.05 cluster on one machine (see
# ../shared/notes/slurm-in-a-box.md). Nodes gpu1-2 (4 fake A100 each) and cpu1-2,
# partitions gpu, cpu, interactive; slurmdbd + MariaDB; sshd on 127.0.0.1 with an
# ordinary user, a generated key and a known_hosts file. Beside it, a real OpenPBS 23.06 complex with its own
# login sshd on 127.0.0.1:2225 (openpbs.sh; every verb below includes it, purge keeps its build cache).
#
#   cluster.sh install   apt-get the Debian packages (needs root and network)
#   cluster.sh up        start everything (idempotent)
#   cluster.sh down      stop everything (idempotent)
#   cluster.sh status    what runs, exit 0 only when all of it does
#   cluster.sh purge     stop everything and remove all it wrote (config, state, spool, accounting
#                        database, the test user and its files, generated keys): the next `up` starts
#                        from nothing, as on a new machine (CI runs it first)
#   cluster.sh env       print the connection settings as shell assignments
#
# Settings (environment): HPCB_TC_DIR (state dir), HPCB_TC_USER (alice), HPCB_TC_SECOND_USER (bob),
# HPCB_TC_SSH_PORT (2222), HPCB_TC_CTLD_PORT (6817), HPCB_TC_DBD_PORT (6819),
# HPCB_TC_SLURMD_PORT (17001, four consecutive ports), HPCB_TC_MAX_SESSIONS (10),
# HPCB_TC_SSH_PORT_NOSFTP (2223: the same sshd without SFTP, for the transport's fallback).
set -euo pipefail

DIR=${HPCB_TC_DIR:-/var/lib/hpcbridge-testcluster}
TC_USER=${HPCB_TC_USER:-alice}
SECOND_USER=${HPCB_TC_SECOND_USER:-bob}
SSH_PORT=${HPCB_TC_SSH_PORT:-2222}
NOSFTP_PORT=${HPCB_TC_SSH_PORT_NOSFTP:-2223} # a second sshd without the sftp subsystem, as some sites run
OTP_PORT=${HPCB_TC_SSH_PORT_OTP:-2224} # a third that asks for a one-time code after the key (two-factor sites)
CTLD_PORT=${HPCB_TC_CTLD_PORT:-6817}
DBD_PORT=${HPCB_TC_DBD_PORT:-6819}
SLURMD_PORT=${HPCB_TC_SLURMD_PORT:-17001}
MAX_SESSIONS=${HPCB_TC_MAX_SESSIONS:-10}
CLUSTER_NAME=hpcb
NODES=(gpu1 gpu2 cpu1 cpu2)
PACKAGES=(slurm-wlm slurmdbd munge openssh-server mariadb-server libslurm-dev
  slurm-wlm-torque gcc squashfs-tools procps postgresql python3-venv)

OPENPBS="$(dirname "$(readlink -f "$0")")/openpbs.sh" # the OpenPBS complex beside Slurm (issue 26)

LOG_TAG=testcluster
# shellcheck source=common.sh
. "$(dirname "$(readlink -f "$0")")/common.sh"
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it starts slurmctld, slurmd, sshd, MariaDB)"; }

running() { # running PIDFILE
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

cmd_install() {
  need_root
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "packages present"; else
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
  fi
  bash "$OPENPBS" install
}

conf_sum() {
  # Debian's slurm-wlm ships no slurm.conf: a missing file must not stop `up` under pipefail
  cat /etc/slurm/slurm.conf /etc/slurm/gres.conf 2>/dev/null | md5sum || true
}

write_slurm_conf() {
  local host before; host=$(hostname)
  before=$(conf_sum)
  local p1=$SLURMD_PORT p2=$((SLURMD_PORT + 1)) p3=$((SLURMD_PORT + 2)) p4=$((SLURMD_PORT + 3))
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$DIR/log" "$DIR/dev"
  chown slurm:slurm /var/spool/slurmctld "$DIR/log"
  chmod 777 "$DIR/log"
  for i in 0 1 2 3; do
    [ -c "$DIR/dev/nvidia$i" ] || { rm -f "$DIR/dev/nvidia$i"; mknod -m 666 "$DIR/dev/nvidia$i" c 195 "$i"; }
  done
  cat >/etc/slurm/slurm.conf <<EOF
# Written by hpcbridge testcluster/cluster.sh
ClusterName=$CLUSTER_NAME
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
ReturnToService=2
GresTypes=gpu
MpiDefault=none
SchedulerType=sched/backfill
MaxJobCount=50000
MaxArraySize=20001
MinJobAge=30
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
# Kill a job that outgrows --mem (there is no cgroup here) so out-of-memory failures can be provoked.
JobAcctGatherParams=OverMemoryKill
# Issue 28: multifactor priority with fairshare weighted most, as on shared sites; a short half-life and a
# one-minute recalculation so a test's usage shows in sshare/sprio quickly. PriorityType and
# AccountingStorageEnforce are read at slurmctld start only (restart_slurmctld_if_needed).
PriorityType=priority/multifactor
PriorityDecayHalfLife=00:10:00
PriorityCalcPeriod=1
PriorityMaxAge=1-00:00:00
PriorityWeightFairshare=10000
PriorityWeightAge=1000
PriorityWeightJobSize=1000
PriorityWeightPartition=1000
PriorityWeightQOS=1000
# Associations, limits (GrpTRES, MaxWall) and QOS enforced, as on real sites.
AccountingStorageEnforce=associations,limits,qos
NodeName=gpu[1-2] NodeHostname=$host NodeAddr=127.0.0.1 Port=$p1-$p2 CPUs=2 RealMemory=4000 Gres=gpu:a100:4
NodeName=cpu[1-2] NodeHostname=$host NodeAddr=127.0.0.1 Port=$p3-$p4 CPUs=2 RealMemory=4000
PartitionName=gpu Nodes=gpu[1-2] MaxTime=1-00:00:00 State=UP
PartitionName=cpu Nodes=cpu[1-2] Default=YES MaxTime=7-00:00:00 State=UP
PartitionName=interactive Nodes=gpu[1-2],cpu[1-2] MaxTime=04:00:00 State=UP
EOF
  cat >/etc/slurm/gres.conf <<EOF
NodeName=gpu[1-2] Name=gpu Type=a100 File=$DIR/dev/nvidia[0-3]
EOF
  if [ "$before" != "$(conf_sum)" ] && running "$DIR/slurmctld.pid"; then
    CONFIG_CHANGED=1  # a running cluster re-reads it after the daemons are checked (see cmd_up)
  fi
  cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=slurm
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=hpcbridge-test
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm /etc/slurm/slurmdbd.conf
  chmod 600 /etc/slurm/slurmdbd.conf
}

start_munge() {
  mkdir -p /run/munge && chown munge:munge /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
  if ! pgrep -x munged >/dev/null; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged --force
  fi
  wait_for 10 munge sh -c 'munge -n | unmunge'
}

mysql_up() { mysqladmin --protocol=socket ping; }

start_mariadb() {
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if ! mysql_up >/dev/null 2>&1; then
    log "starting MariaDB"
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
    (setsid mysqld_safe --user=mysql --bind-address=127.0.0.1 >"$DIR/log/mysqld_safe.out" 2>&1 &)
    wait_for 60 MariaDB mysql_up
  fi
  mysql -u root <<'EOF'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'hpcbridge-test';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
}

pg_version() { ls /usr/lib/postgresql | sort -V | tail -1; }

start_postgres() {
  # The history store's tests run on SQLite and on PostgreSQL: Debian's cluster, a role and a database.
  local v port
  v=$(pg_version)
  pg_lsclusters -h | awk -v v="$v" '$1 == v && $2 == "main"' | grep -q . || pg_createcluster "$v" main >/dev/null
  if ! pg_lsclusters -h | awk -v v="$v" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
    log "starting PostgreSQL $v"
    pg_ctlcluster "$v" main start
  fi
  port=$(pg_lsclusters -h | awk -v v="$v" '$1 == v && $2 == "main" {print $3}')
  wait_for 30 PostgreSQL su postgres -s /bin/sh -c "psql -p $port -qtAc 'select 1'"
  su postgres -s /bin/sh -c "psql -p $port -q" <<'EOF'
DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hpcbridge') THEN
  CREATE ROLE hpcbridge LOGIN PASSWORD 'hpcbridge-test'; END IF; END$$;
EOF
  su postgres -s /bin/sh -c "psql -p $port -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'hpcbridge_test'\"" |
    grep -q 1 || su postgres -s /bin/sh -c "createdb -p $port -O hpcbridge hpcbridge_test"
  printf 'HPCBRIDGE_TEST_DATABASE_URL=postgresql://hpcbridge:hpcbridge-test@127.0.0.1:%s/hpcbridge_test\n' "$port" \
    >"$DIR/postgres.env"
}

start_slurmdbd() {
  if ! running "$DIR/slurmdbd.pid"; then
    log "starting slurmdbd"
    /usr/sbin/slurmdbd
  fi
  wait_for 60 slurmdbd sacctmgr -n list cluster
}

has_assoc() { # has_assoc ACCOUNT USER
  sacctmgr -nP show assoc where cluster="$CLUSTER_NAME" account="$1" user="$2" format=user | grep -qx "$2"
}

register_accounting() {
  sacctmgr -n list cluster format=cluster | grep -qw "$CLUSTER_NAME" \
    || sacctmgr -i add cluster "$CLUSTER_NAME" >/dev/null
  sacctmgr -n list account format=account | grep -qw research \
    || sacctmgr -i add account research Description=hpcbridge-tests Organization=hpcb >/dev/null
  for u in root "$TC_USER"; do
    sacctmgr -n list user format=user | grep -qw "$u" \
      || sacctmgr -i add user "$u" Account=research >/dev/null
  done
  # Issue 28: a second user in the same account (fairshare among siblings), an account with a GPU cap
  # (GrpTRES; the user's default account stays research) and a QOS with a short wall limit.
  has_assoc research "$SECOND_USER" || sacctmgr -i add user "$SECOND_USER" Account=research >/dev/null
  sacctmgr -nP list account format=account | grep -qx capped \
    || sacctmgr -i add account capped Description=hpcbridge-gpu-cap Organization=hpcb >/dev/null
  has_assoc capped "$TC_USER" || sacctmgr -i add user "$TC_USER" Account=capped >/dev/null
  sacctmgr -nP list qos format=name | grep -qx short || sacctmgr -i add qos short >/dev/null
  sacctmgr -nP list qos where name=short format=maxwall | grep -qx '00:30:00' \
    || sacctmgr -i modify qos short set MaxWall=00:30:00 >/dev/null
  if sacctmgr -nP show assoc where cluster="$CLUSTER_NAME" user="$TC_USER" format=qos | grep -vqx 'normal,short'; then
    sacctmgr -i modify user "$TC_USER" where cluster="$CLUSTER_NAME" set QOS=normal,short DefaultQOS=normal >/dev/null
  fi
}

limit_accounts() {
  # GrpTRES=gres/gpu names a TRES that exists only once slurmctld, started with AccountingStorageTRES=gres/gpu,
  # has registered it in the database ("no TRES known by type gres/gpu" before): so this runs after it.
  wait_for 60 "the gres/gpu TRES" sh -c "sacctmgr -nP show tres format=type,name | grep -qx 'gres|gpu'"
  sacctmgr -nP show assoc where cluster="$CLUSTER_NAME" account=capped format=user,grptres | grep -qx '|gres/gpu=2' \
    || sacctmgr -i modify account capped where cluster="$CLUSTER_NAME" set GrpTRES=gres/gpu=2 >/dev/null
}

start_slurmctld() {
  if ! running "$DIR/slurmctld.pid"; then
    log "starting slurmctld"
    /usr/sbin/slurmctld
  fi
  wait_for 60 slurmctld scontrol ping
}

conf_value() { sed -n "s/^$1=//p" /etc/slurm/slurm.conf; }
live_value() { scontrol show config | sed -n "s/^$1 *= *//p"; }

restart_slurmctld_if_needed() {
  # PriorityType and AccountingStorageEnforce are read at start only (scontrol reconfigure keeps the old
  # ones): a running slurmctld that differs from slurm.conf is stopped (state saved; jobs keep running on
  # the slurmds) and started again. Nothing happens when it already runs with them.
  local key want have restart=0
  for key in PriorityType AccountingStorageEnforce; do
    want=$(conf_value "$key"); have=$(live_value "$key")
    [ "$want" = "$have" ] || { log "slurmctld runs $key=$have, slurm.conf says $want"; restart=1; }
  done
  [ "$restart" = 1 ] || return 0
  local pid; pid=$(cat "$DIR/slurmctld.pid")
  log "restarting slurmctld"
  kill "$pid"
  wait_for 60 "slurmctld to stop" sh -c "! kill -0 $pid 2>/dev/null"
  CONFIG_CHANGED=0
  start_slurmctld
}

start_slurmds() {
  for n in "${NODES[@]}"; do
    mkdir -p "/var/spool/slurmd/$n"
    if ! running "$DIR/slurmd-$n.pid"; then
      log "starting slurmd $n"
      /usr/sbin/slurmd -N "$n"
    fi
  done
  wait_for 90 "all nodes to register" all_nodes_up
}

all_nodes_up() {
  # every node responding (idle, mixed or allocated; not down/unknown)
  local states; states=$(sinfo -h -N -o '%N %t' | sort -u)
  [ "$(printf '%s\n' "$states" | awk '{print $1}' | sort -u | wc -l)" -eq ${#NODES[@]} ] || return 1
  ! printf '%s\n' "$states" | grep -Eq ' (down|unk|drain|fail|boot|pow)'
}

make_user() {
  if ! id "$TC_USER" >/dev/null 2>&1; then
    log "creating user $TC_USER"
    useradd -m -s /bin/bash "$TC_USER"
  fi
  # The second user (issue 28: a sibling in research; tests submit as it with su - bob -c 'sbatch ...' and
  # write its output to its home). No key: nobody logs in as it.
  if ! id "$SECOND_USER" >/dev/null 2>&1; then
    log "creating user $SECOND_USER"
    useradd -m -s /bin/bash "$SECOND_USER"
  fi
  usermod -p '*' -s /bin/bash "$TC_USER" # unlocked, no password: key only
  local home; home=$(getent passwd "$TC_USER" | cut -d: -f6)
  if [ ! -s "$DIR/user_key" ]; then
    ssh-keygen -q -t ed25519 -N '' -C "hpcbridge-testcluster" -f "$DIR/user_key"
  fi
  install -d -m 700 -o "$TC_USER" -g "$TC_USER" "$home/.ssh"
  install -m 600 -o "$TC_USER" -g "$TC_USER" "$DIR/user_key.pub" "$home/.ssh/authorized_keys"
  chmod 644 "$DIR/user_key.pub"; chmod 600 "$DIR/user_key"
}

sshd_config() { # sshd_config PORT NAME WITH_SFTP
  cat <<EOF
Port $1
ListenAddress 127.0.0.1
HostKey $DIR/ssh_host_ed25519_key
PidFile $DIR/$2.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
MaxSessions $MAX_SESSIONS
MaxStartups 100:30:200
EOF
  [ "$3" = yes ] && echo "Subsystem sftp /usr/lib/openssh/sftp-server"
  return 0
}

start_sshd() {
  mkdir -p /run/sshd
  [ -s "$DIR/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/ssh_host_ed25519_key"
  sshd_config "$SSH_PORT" sshd yes >"$DIR/sshd_config"
  sshd_config "$NOSFTP_PORT" sshd-nosftp no >"$DIR/sshd-nosftp_config"
  local name
  for name in sshd sshd-nosftp; do
    if ! running "$DIR/$name.pid"; then
      log "starting $name"
      /usr/sbin/sshd -f "$DIR/${name}_config" -E "$DIR/log/$name.log"
    fi
  done
  local key; key=$(cut -d' ' -f1,2 "$DIR/ssh_host_ed25519_key.pub")
  printf '[127.0.0.1]:%s %s\n[127.0.0.1]:%s %s\n' "$SSH_PORT" "$key" "$NOSFTP_PORT" "$key" >"$DIR/known_hosts"
  chmod 644 "$DIR/known_hosts"
  wait_for 20 "ssh login as $TC_USER" ssh -p "$SSH_PORT" -i "$DIR/user_key" -o BatchMode=yes \
    -o UserKnownHostsFile="$DIR/known_hosts" -o StrictHostKeyChecking=yes "$TC_USER@127.0.0.1" true
}

OTP_PAM=/etc/pam.d/hpcb-otp-sshd

start_otp_sshd() {
  # Two-factor sites: the key, then a one-time code (keyboard-interactive through PAM). sshd names its PAM
  # service after the program (OpenSSH's SSHD_PAM_SERVICE is __progname), so a link called hpcb-otp-sshd gets
  # its own PAM stack; pam_exec hands the answer to otp-check, which accepts $DIR/otp-code once and then
  # writes a new code (a reused code fails).
  mkdir -p "$PLUGIN_DIR"
  ln -sf /usr/sbin/sshd "$PLUGIN_DIR/hpcb-otp-sshd"
  printf '%s\n' '#!/bin/sh' \
    'answer=$(tr -d "\000\n")' \
    "expected=\$(cat '$DIR/otp-code' 2>/dev/null)" \
    '[ -n "$expected" ] && [ "$answer" = "$expected" ] || exit 1' \
    "od -An -N4 -tu4 /dev/urandom | tr -d ' ' >'$DIR/otp-code'" >"$PLUGIN_DIR/otp-check"
  chmod 755 "$PLUGIN_DIR/otp-check"
  [ -s "$DIR/otp-code" ] || od -An -N4 -tu4 /dev/urandom | tr -d ' ' >"$DIR/otp-code"
  chmod 600 "$DIR/otp-code"
  printf '%s\n' "auth required pam_exec.so type=auth expose_authtok quiet $PLUGIN_DIR/otp-check" \
    'auth optional pam_permit.so' \
    'account required pam_permit.so' 'session required pam_permit.so' 'password required pam_deny.so' >"$OTP_PAM"
  sshd_config "$OTP_PORT" sshd-otp no | sed -e 's/^KbdInteractiveAuthentication no/KbdInteractiveAuthentication yes/' \
    -e 's/^UsePAM no/UsePAM yes/' >"$DIR/sshd-otp_config"
  echo "AuthenticationMethods publickey,keyboard-interactive" >>"$DIR/sshd-otp_config"
  if ! running "$DIR/sshd-otp.pid"; then
    log "starting sshd-otp (key + one-time code)"
    "$PLUGIN_DIR/hpcb-otp-sshd" -f "$DIR/sshd-otp_config" -E "$DIR/log/sshd-otp.log"
  fi
  local key; key=$(cut -d' ' -f1,2 "$DIR/ssh_host_ed25519_key.pub")
  printf '[127.0.0.1]:%s %s\n' "$OTP_PORT" "$key" >>"$DIR/known_hosts"
}

LUSTRE=${HPCB_TC_LUSTRE:-/lustre}
PLUGIN_DIR=/usr/local/lib/hpcbridge-testcluster

install_pyxis_standin() {
  # Pyxis is not packaged for Debian; this SPANK plugin registers the same options and exports their values
  # into the job (PYXIS_CONTAINER_IMAGE=...). It proves options are accepted and delivered, not that a
  # container runs. SPANK plugins load at each sbatch/srun/step start: no daemon restart is needed.
  local src; src="$(dirname "$(readlink -f "$0")")/pyxis_standin.c"
  mkdir -p "$PLUGIN_DIR" /etc/slurm/plugstack.conf.d
  if [ ! -s "$PLUGIN_DIR/pyxis_standin.so" ] || [ "$src" -nt "$PLUGIN_DIR/pyxis_standin.so" ]; then
    log "building the Pyxis stand-in SPANK plugin"
    gcc -shared -fPIC -Wall -o "$PLUGIN_DIR/pyxis_standin.so" "$src"
  fi
  echo "optional $PLUGIN_DIR/pyxis_standin.so" >/etc/slurm/plugstack.conf.d/pyxis.conf
}

install_nvidia_smi_standin() {
  # No GPU here: a stand-in nvidia-smi (its header says which query form and format it prints) on the nodes'
  # PATH, with values the tests write into a world-writable directory (sticky, like /tmp).
  install -m 755 "$(dirname "$(readlink -f "$0")")/nvidia-smi" /usr/local/bin/nvidia-smi
  install -d -m 1777 "$DIR/nvidia-smi"
}

install_lfs_standin() {
  # No Lustre here: a stand-in lfs (its header says which forms and format it prints) for get_quotas, with
  # quota values the tests write into a world-writable directory (sticky, like /tmp).
  install -m 755 "$(dirname "$(readlink -f "$0")")/lfs" /usr/local/bin/lfs
  install -d -m 1777 "$DIR/lfs"
}

make_image() { # make_image NAME AGE_DAYS: a real squashfs image with a marker file inside
  local out="$LUSTRE/images/$1" tmp
  [ -s "$out" ] && return 0
  tmp=$(mktemp -d)
  mkdir -p "$tmp/etc" && echo "$1" >"$tmp/etc/hpcbridge-image"
  mksquashfs "$tmp" "$out" -noappend -quiet -no-progress >/dev/null
  rm -rf "$tmp"
  touch -d "$2 days ago" "$out"
}

make_lustre() {
  # A stand-in for a parallel file system: images and the ordinary user's root with the plan's layout.
  local root="$LUSTRE/users/$TC_USER" d
  mkdir -p "$LUSTRE/images"
  make_image pytorch-24.01.sqsh 3
  make_image tensorflow-24.01.sqsh 7
  make_image tf-nightly.sqsh 8
  make_image cuda12-base.sqsh 20
  [ -s "$LUSTRE/images/not-an-image.sqsh" ] || echo "this is not squashfs" >"$LUSTRE/images/not-an-image.sqsh"
  chmod 755 "$LUSTRE" "$LUSTRE/images"; chmod 644 "$LUSTRE"/images/*
  for d in data results models logs Projects root scratch; do mkdir -p "$root/$d"; done
  mkdir -p "$LUSTRE/users"
  chown -R "$TC_USER:$TC_USER" "$root"
}

JUPYTER_VENV="$DIR/jupyter-venv"

# An older jupyter-server, as sites' environments carry them: before 2.20 a server started with --port=0 writes
# port 0 in its runtime file and its log while it listens elsewhere (the e2e runs a kernel through it:
# tests/e2e/test_jupyter_old_server.py). Pinned to versions released together (mid 2024).
JUPYTER_OLD_VENV="$DIR/jupyter-venv-2.14"
JUPYTER_OLD_PINS=('jupyter-server==2.14.2' 'jupyter-client==8.6.2' 'ipykernel==6.29.5' 'jupyter-core==5.7.2'
  'jupyter-events==0.10.0' 'tornado==6.4.1' 'traitlets==5.14.3' 'pyzmq==26.0.3')

make_venv() { # make_venv DIR PACKAGE...: once (cached by .complete); under $DIR, so purge starts it afresh
  local venv=$1; shift
  [ -x "$venv/bin/jupyter-server" ] && [ -e "$venv/.complete" ] && return 0
  log "creating the Jupyter environment $venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
  touch "$venv/.complete"
  chmod -R a+rX "$venv"
}

make_jupyter_env() {
  # The Python environment the compute nodes' Jupyter servers activate (SLURM_JUPYTER_VENV): Debian's python3
  # with jupyter-server, ipykernel, numpy and matplotlib from PyPI.
  make_venv "$JUPYTER_VENV" 'jupyter-server>=2,<3' 'ipykernel>=6,<8' 'numpy>=1.26,<3' 'matplotlib>=3.7,<4'
  make_venv "$JUPYTER_OLD_VENV" "${JUPYTER_OLD_PINS[@]}"
  # A real TensorBoard writer for the jobs that write metrics (tests/e2e/test_watch_metrics.py): tensorboardX
  # (numpy, protobuf; no TensorFlow). Apart from make_venv, so an environment made before it gets it too.
  "$JUPYTER_VENV/bin/python" -c 'import tensorboardX' 2>/dev/null ||
    { "$JUPYTER_VENV/bin/pip" install -q --disable-pip-version-check 'tensorboardX>=2.6,<3' &&
      chmod -R a+rX "$JUPYTER_VENV"; }
}

write_connection() {
  cat >"$DIR/connection.env" <<EOF
SLURM_SSH_HOST=127.0.0.1
SLURM_SSH_PORT=$SSH_PORT
SLURM_SSH_USER=$TC_USER
SLURM_SSH_KEY_PATH=$DIR/user_key
SLURM_SSH_KNOWN_HOSTS=$DIR/known_hosts
SLURM_DEFAULT_PARTITION=cpu
SLURM_GPU_PARTITIONS=gpu
SLURM_CPU_PARTITIONS=cpu
SLURM_USER_ROOT=$LUSTRE/users/$TC_USER
SLURM_GPFS_ROOT=$LUSTRE
SLURM_DIR_HOME=$(getent passwd "$TC_USER" | cut -d: -f6)
SLURM_DIR_SCRATCH=$LUSTRE/users/$TC_USER/scratch
SLURM_IMAGE_DIR=$LUSTRE/images
SLURM_DEFAULT_IMAGE=$LUSTRE/images/pytorch-24.01.sqsh
SLURM_INTERACTIVE_DEFAULT_GPUS=4
SLURM_JUPYTER_VENV=$JUPYTER_VENV
EOF
  printf 'HPCB_TC_SSH_PORT_NOSFTP=%s\nHPCB_TC_SSH_PORT_OTP=%s\nHPCB_TC_JUPYTER_OLD_VENV=%s\n' \
    "$NOSFTP_PORT" "$OTP_PORT" "$JUPYTER_OLD_VENV" >"$DIR/testcluster.env"
  chmod 644 "$DIR/connection.env"
}

cmd_up() {
  need_root
  command -v slurmctld >/dev/null || die "Slurm is not installed: run '$0 install' first"
  mkdir -p "$DIR/log"
  write_slurm_conf
  make_user
  start_munge
  start_mariadb
  start_postgres
  start_slurmdbd
  register_accounting
  start_slurmctld
  restart_slurmctld_if_needed
  limit_accounts
  start_slurmds
  if [ "${CONFIG_CHANGED:-0}" = 1 ]; then log "slurm.conf changed: scontrol reconfigure"; scontrol reconfigure; fi
  start_sshd
  install_pyxis_standin
  install_nvidia_smi_standin
  install_lfs_standin
  start_otp_sshd
  make_lustre
  make_jupyter_env
  write_connection
  bash "$OPENPBS" up
  log "up: $(sinfo -h -o '%P' | tr '\n' ' ')| ssh $TC_USER@127.0.0.1 -p $SSH_PORT"
}

stop_pidfile() {
  local f=$1
  if running "$f"; then kill "$(cat "$f")" 2>/dev/null || true; fi
}

cmd_down() {
  need_root
  bash "$OPENPBS" down
  stop_pidfile "$DIR/sshd.pid"
  stop_pidfile "$DIR/sshd-nosftp.pid"
  stop_pidfile "$DIR/sshd-otp.pid"
  for n in "${NODES[@]}"; do stop_pidfile "$DIR/slurmd-$n.pid"; done
  stop_pidfile "$DIR/slurmctld.pid"
  stop_pidfile "$DIR/slurmdbd.pid"
  if mysql_up >/dev/null 2>&1; then mysqladmin --protocol=socket shutdown || true; fi
  sleep 1
  pkill -x slurmd 2>/dev/null || true
  log "down"
}

cmd_purge() {
  need_root
  bash "$OPENPBS" purge
  if command -v slurmctld >/dev/null; then cmd_down || true; fi
  pkill -x slurmctld 2>/dev/null || true; pkill -x slurmdbd 2>/dev/null || true
  local name
  for name in sshd sshd-nosftp sshd-otp; do stop_pidfile "$DIR/$name.pid"; done
  if id "$TC_USER" >/dev/null 2>&1; then
    pkill -KILL -u "$TC_USER" 2>/dev/null || true
    sleep 0.5
    userdel -r "$TC_USER" 2>/dev/null || userdel "$TC_USER" 2>/dev/null || true
  fi
  if command -v mysqld_safe >/dev/null && [ -d /var/lib/mysql/mysql ]; then
    # the accounting database lives in MariaDB's data directory: start it briefly to drop what we made
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    if ! mysql_up >/dev/null 2>&1; then
      mkdir -p "$DIR/log"
      (setsid mysqld_safe --user=mysql --bind-address=127.0.0.1 >"$DIR/log/mysqld_safe.out" 2>&1 &)
      wait_for 60 MariaDB mysql_up
    fi
    mysql -u root -e "DROP DATABASE IF EXISTS slurm_acct_db; DROP USER IF EXISTS 'slurm'@'localhost';"
    mysqladmin --protocol=socket shutdown || true
  fi
  if command -v pg_lsclusters >/dev/null && pg_lsclusters -h | grep -q online; then
    su postgres -s /bin/sh -c "psql -q -c 'DROP DATABASE IF EXISTS hpcbridge_test' -c 'DROP ROLE IF EXISTS hpcbridge'" || true
  fi
  rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/slurmdbd.conf /etc/slurm/plugstack.conf.d/pyxis.conf "$OTP_PAM"
  # "$DIR" holds both Jupyter environments (jupyter-venv, jupyter-venv-2.14)
  rm -rf /var/spool/slurmctld /var/spool/slurmd "$PLUGIN_DIR" "$LUSTRE" "$JUPYTER_VENV" "$JUPYTER_OLD_VENV" "$DIR"
  log "purged: the next 'up' starts from nothing"
}

cmd_status() {
  local ok=0
  check() { if "$@" >/dev/null 2>&1; then printf '  %-12s up\n' "$NAME"; else printf '  %-12s DOWN\n' "$NAME"; ok=1; fi; }
  NAME=munge check sh -c 'munge -n | unmunge'
  NAME=mariadb check mysql_up
  NAME=slurmdbd check running "$DIR/slurmdbd.pid"
  NAME=slurmctld check scontrol ping
  for n in "${NODES[@]}"; do NAME="slurmd $n" check running "$DIR/slurmd-$n.pid"; done
  NAME=sshd check running "$DIR/sshd.pid"
  NAME=sshd-nosftp check running "$DIR/sshd-nosftp.pid"
  NAME=sshd-otp check running "$DIR/sshd-otp.pid"
  bash "$OPENPBS" status || ok=1
  return $ok
}

cmd_env() {
  [ -s "$DIR/connection.env" ] || die "no $DIR/connection.env: run '$0 up' first"
  cat "$DIR/connection.env"
}

case "${1:-}" in
  install) cmd_install ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  purge) cmd_purge ;;
  *) echo "usage: $0 install|up|down|status|env|purge" >&2; exit 2 ;;
esac
