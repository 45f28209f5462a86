#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests of profiles/slurm.
#
#   sudo scripts/local-slurm.sh start    # install (Debian/Ubuntu) if needed, configure, start
#   scripts/local-slurm.sh status        # exit 0 when sinfo answers and the node is idle/mixed
#   sudo scripts/local-slurm.sh stop     # stop the daemons this script started
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge with apt-get (no systemd
# needed: the daemons are started directly, so it works in a container), writes a minimal
# slurm.conf for `hostname -s` (no job accounting: the profile queries squeue), and
# declares LOCAL_SLURM_GPUS (default 2) stand-in GPUs (empty files as their devices),
# so jobs that ask for `--gpus=1` are scheduled and accounted on a machine without a GPU.
# Must run as root. An existing slurm.conf that this script did not write is never touched.
# Leave it running (or `stop` it and remove slurm-client): while the client is installed
# but no controller answers, every `snakemake` start waits ~9 s, because the SLURM executor
# plugin asks `scontrol show config` when it loads.
set -euo pipefail

MARK="# written by dupstudy scripts/local-slurm.sh"
CONF=/etc/slurm/slurm.conf
GPUS=${LOCAL_SLURM_GPUS:-2}
STATE=${LOCAL_SLURM_STATE:-/var/lib/slurm-local}

say() { echo "local-slurm: $*" >&2; }
die() { say "$*"; exit 1; }

node_ready() {
  local state
  state=$(timeout 5 sinfo -h -N -o '%T' 2>/dev/null | head -1) || return 1
  [[ $state =~ ^(idle|mixed|allocated)$ ]]   # not idle* (not responding) nor down/drain/inval
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
     && command -v munged >/dev/null; then
    return 0
  fi
  command -v apt-get >/dev/null || die "slurm is not installed and apt-get is not available"
  say "installing slurmctld slurmd slurm-client munge with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
    || die "apt-get install slurmctld slurmd slurm-client munge failed"
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /etc/munge
  install -d -o munge -g munge -m 0711 /var/lib/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null 2>&1 || true; fi
    [[ -s /etc/munge/munge.key ]] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "munged did not start (see /var/log/munge/munged.log)"
}

write_conf() {
  if [[ -f $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
    say "keeping $CONF (not written by this script)"; return 0
  fi
  local host node cpus mem
  host=$(hostname -s)
  node=$(slurmd -C | head -1)              # NodeName=<host> CPUs=... RealMemory=...
  cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  mem=$(( mem > 1024 ? mem - 512 : mem ))   # leave the OS some room
  install -d -o slurm -g slurm -m 0755 "$STATE" "$STATE/ctld" "$STATE/d" /var/log/slurm /run/slurm
  install -d -m 0755 /etc/slurm
  cat >"$CONF" <<EOF
$MARK
ClusterName=local
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
MpiDefault=none
GresTypes=gpu
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:$GPUS State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  # Stand-in device files: slurmd counts a GPU per file; nothing is ever opened.
  local i
  for (( i = 0; i < GPUS; i++ )); do touch "$STATE/fake-gpu$i"; done
  cat >/etc/slurm/gres.conf <<EOF
$MARK
NodeName=$host Name=gpu File=$STATE/fake-gpu[0-$(( GPUS - 1 ))]
EOF
  # slurm-client reads /etc/slurm; older packages looked in /etc/slurm-llnl
  [[ -d /etc/slurm-llnl && ! -e /etc/slurm-llnl/slurm.conf ]] && ln -s "$CONF" /etc/slurm-llnl/slurm.conf || true
}

start() {
  [[ $(id -u) == 0 ]] || die "must run as root (it installs packages and starts daemons)"
  install_packages
  start_munge
  write_conf
  pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
  pgrep -x slurmd >/dev/null || /usr/sbin/slurmd || die "slurmd did not start (see /var/log/slurm/slurmd.log)"
  local i
  for (( i = 1; i <= 300; i++ )); do
    if node_ready; then say "ready: $(sinfo -h -o '%P %N %T %G' | head -1)"; return 0; fi
    # a node left down/drained/inval by an earlier configuration is put back in service
    (( i % 25 == 0 )) && scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    sleep 0.2
  done
  die "node not ready: $(sinfo -h -N -o '%N %T %E' 2>&1 | head -1)"
}

stop() {
  local f pid
  for f in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid /run/munge/munged.pid; do
    [[ -f $f ]] && pid=$(cat "$f") || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) node_ready ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac
