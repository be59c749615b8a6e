#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, for trying `profiles/slurm` without a
# real cluster: Debian's slurmctld, slurmd and munge (apt-get install slurmctld slurmd munge),
# loopback only, no accounting database. Needs root. Everything it writes lives in STATE_DIR
# (default /tmp/karman-slurm), apart from a munge key it creates if the machine has none.
#
#   sudo profiles/slurm/local/up.sh [STATE_DIR]
#   export SLURM_CONF=STATE_DIR/slurm.conf     # what it prints; sbatch, squeue, sinfo need it
#   snakemake --profile profiles/slurm
#   sudo profiles/slurm/local/down.sh [STATE_DIR]
set -euo pipefail
state=$(realpath -m "${1:-/tmp/karman-slurm}")
mkdir -p "$state"/{spool,state,log,munge}
for tool in slurmctld slurmd munged sinfo; do
    command -v "$tool" >/dev/null || { echo "up.sh: $tool not found; apt-get install slurmctld slurmd munge" >&2; exit 1; }
done

# munge: authenticates the daemons to each other
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    chmod 400 /etc/munge/munge.key
fi
chown -R root "$state/munge"
mkdir -p /run/munge
munged --force --key-file=/etc/munge/munge.key --pid-file="$state/munge/munged.pid" \
       --log-file="$state/log/munged.log" --seed-file="$state/munge/seed"

node=$(hostname -s)
cpus=$(nproc)
memory=$(( $(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') * 9 / 10 ))
cat > "$state/slurm.conf" <<CONF
ClusterName=karman
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$state/state
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
# A node set DOWN (scontrol update nodename=... state=DOWN) stays down until state=RESUME.
ReturnToService=1
MinJobAge=86400
# A job requeued after a node failure may start again cred_expire seconds later (default
# 120), once its old steps are gone (KillWait after SIGTERM, default 30 s), at the next
# scheduling pass (default every 60 s, backfill every 30 s): seconds here.
AuthInfo=cred_expire=10
KillWait=5
SchedulerParameters=bf_interval=2,sched_interval=2
# Jobs are requeued only where sbatch asks for it (--requeue, as profiles/slurm does), as on
# sites that set JobRequeue=0 (SLURM's default is 1).
JobRequeue=0
SlurmctldParameters=enable_configless
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$state/slurm.conf"
slurmctld
# Configless: slurmd fetches the configuration from slurmctld and keeps it where commands
# inside jobs find it without SLURM_CONF (the Snakemake job step drops SLURM_* variables).
env -u SLURM_CONF slurmd --conf-server 127.0.0.1
for _ in $(seq 60); do
    if sinfo --noheader --states=idle 2>/dev/null | grep -q idle; then
        echo "SLURM is up: export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 1
done
echo "up.sh: the node did not become idle within 60 s; see $state/log/" >&2
exit 1
