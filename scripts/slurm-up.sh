#!/usr/bin/env bash
# Brings up a real single-node Slurm cluster on this Debian machine, for
# development: munge, slurmctld and slurmd on loopback, no systemd, two fake
# GPUs as gres backed by device files. State lives in $SLURM_DIR (default
# /tmp/dogo-slurm). Needs root and the packages `make test-deps` installs.
# Take it down with scripts/slurm-down.sh.
#
# --config-only writes the configuration and the munge key and starts
# nothing: the tests start the daemons themselves, as their own children, and
# stop them when they end.
set -euo pipefail
DIR=${SLURM_DIR:-/tmp/dogo-slurm}
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  echo "Slurm is not installed: run make test-deps (munge slurmctld slurmd slurm-client)" >&2
  exit 1
fi
mkdir -p "$DIR"/{state,spool,log,gpu} /run/munge /etc/slurm
chown munge:munge /run/munge
chmod 0755 /run/munge
if [ ! -f /etc/munge/munge.key ]; then
  mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
# Fake GPUs: slurmd wants device files; symlinks to /dev/null will do.
for i in 0 1; do ln -sf /dev/null "$DIR/gpu/nvidia$i"; done
NODE=$(hostname -s)
HW=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=[0-9]*//')
MEM=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) * 9 / 10 ))
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=dogo
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
MinJobAge=3600
ReturnToService=2
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 $HW RealMemory=$MEM Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
cat > /etc/slurm/gres.conf <<CONF
AutoDetect=off
NodeName=$NODE Name=gpu File=$DIR/gpu/nvidia[0-1]
CONF
if [ "${1:-}" = --config-only ]; then
  exit 0
fi
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
fi
# A daemon that was stopped can linger as a zombie (PID 1 here does not reap
# orphans): only a live process counts.
alive() {
  for pid in $(pgrep -x "$1"); do
    [ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" != Z ] && return 0
  done
  return 1
}
# -c: start from a clean state, with no jobs left from earlier runs.
alive slurmctld || /usr/sbin/slurmctld -c
alive slurmd || /usr/sbin/slurmd
for _ in $(seq 1 50); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^idle'; then
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    echo "slurm is up: $(sinfo -h -o '%P %D %T %G')"
    exit 0
  fi
  sleep 0.2
done
echo "slurm did not come up; logs in $DIR/log" >&2
sinfo >&2 || true
exit 1
