#!/usr/bin/env bash
# Stop the daemons that up.sh started, by the pids it recorded in STATE_DIR; nothing else.
set -uo pipefail
state=$(realpath -m "${1:-/tmp/karman-slurm}")
for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munge/munged.pid"; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
done
echo "SLURM daemons of $state stopped"
