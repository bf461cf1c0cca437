#!/usr/bin/env bash
# Takes down the cluster of scripts/slurm-up.sh: cancels jobs first (their
# processes outlive slurmd), then stops the daemons.
set -uo pipefail
scancel --full --user "$(id -un)" 2>/dev/null
sleep 0.5
for d in slurmd slurmctld; do pkill -x "$d" 2>/dev/null; done
alive() {
  for pid in $(pgrep -x "$1"); do
    [ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" != Z ] && return 0
  done
  return 1
}
for _ in $(seq 1 30); do
  alive slurmd || alive slurmctld || break
  sleep 0.2
done
echo "slurm is down"
