#!/usr/bin/env bash
# A two-node SLURM cluster on this machine, for the tests marked `slurm` (tests/slurm/conftest.py).
#
#   cluster.sh up DIR          start it; everything it writes lives under DIR (an empty folder)
#   cluster.sh on N DIR CMD..  run CMD on node N (1 or 2) in the current folder
#   cluster.sh down DIR        stop every daemon and job process, remove both nodes' namespaces
#
# Each node is a network + UTS + mount namespace (pinned by files under DIR/ns) named node1/node2,
# joined by one veth pair on 10.77.0.1/24 and 10.77.0.2/24: addresses that exist only inside these
# namespaces (no route to or from the root namespace). In its mount namespace a node sees DIR's
# hosts file as /etc/hosts, an empty /etc/resolv.conf and DIR/etc as /etc/slurm, so srun, sbatch
# and every nested srun find slurm.conf in its default place. munged runs in the root namespace; its
# socket is a path (in a /tmp folder of its own, see munge_socket_dir), reachable from both nodes. Needs root, unshare/nsenter, iproute2 and
# Debian's slurm-wlm + munge. `up` leaves nothing behind when it fails (it calls `down` itself).
set -euo pipefail

NODES=(node1 node2)
ADDRS=(10.77.0.1 10.77.0.2)
PORT_RANGE=20000-20999   # MpiParams=ports: srun --resv-ports takes a node's ports from here

die() { echo "cluster.sh: $*" >&2; exit 2; }

usage() { die "usage: cluster.sh up DIR | on N DIR CMD... | down DIR"; }

on_node() {  # on_node N DIR CMD...
    local n="$1" dir="$2"
    shift 2
    [ -e "$dir/ns/net$n" ] || die "node$n of $dir is not running (cluster.sh up $dir first)"
    exec nsenter --net="$dir/ns/net$n" --uts="$dir/ns/uts$n" --mount="$dir/ns/mnt$n" --wd="$PWD" "$@"
}

write_conf() {  # slurm.conf for the two nodes, every state path under DIR
    local dir="$1" sock="$2"
    cat > "$dir/etc/slurm.conf" <<EOF
ClusterName=ci
SlurmctldHost=node1(${ADDRS[0]})
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock/munge.socket.2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MpiParams=ports=$PORT_RANGE
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=node1 NodeAddr=${ADDRS[0]} CPUs=2 RealMemory=8000 State=UNKNOWN
NodeName=node2 NodeAddr=${ADDRS[1]} CPUs=2 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=node[1-2] Default=YES MaxTime=INFINITE State=UP
EOF
    # Debian's plugstack.conf includes plugstack.conf.d/*: an empty one keeps srun quiet
    : > "$dir/etc/plugstack.conf"
}

munge_socket_dir() {  # munged wants o+x on every folder above its socket, which DIR may lack (a
    # 0700 pytest temp folder): the socket gets a folder of its own in /tmp, named in DIR/run
    local dir="$1" sock
    sock=$(mktemp -d /tmp/resnext-munge.XXXXXX)
    chmod 0755 "$sock"
    echo "$sock" > "$dir/run/munge-socket-dir"
    echo "$sock"
}

start_munge() {
    local dir="$1" sock="$2"
    mkdir -p "$dir/munge-etc" "$dir/munge-lib"
    chmod 0700 "$dir/munge-etc" "$dir/munge-lib"
    dd if=/dev/urandom of="$dir/munge-etc/munge.key" bs=1 count=1024 status=none
    chmod 0400 "$dir/munge-etc/munge.key"
    munged --socket="$sock/munge.socket.2" --key-file="$dir/munge-etc/munge.key" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge-lib/munged.seed"
}

make_node() {  # make_node N DIR: namespaces, hostname, loopback, the node's view of /etc
    local n="$1" dir="$2" name="${NODES[$(($1 - 1))]}"
    local ns="$dir/ns"
    touch "$ns/net$n" "$ns/uts$n" "$ns/mnt$n"
    unshare --net="$ns/net$n" --uts="$ns/uts$n" --mount="$ns/mnt$n" --propagation private \
        sh -c 'hostname "$1" && ip link set lo up && mount --bind "$2/hosts" /etc/hosts &&
               mount --bind "$2/resolv.conf" /etc/resolv.conf && mount --bind "$2/etc" /etc/slurm' \
        make_node "$name" "$dir"
}

link_nodes() {  # one veth pair, created inside node1 with its peer moved straight into node2
    local dir="$1" ns="$1/ns"
    nsenter --net="$ns/net1" ip link add rx0 type veth peer name rx1 netns "$ns/net2"
    nsenter --net="$ns/net1" sh -c "ip addr add ${ADDRS[0]}/24 dev rx0 && ip link set rx0 up"
    nsenter --net="$ns/net2" sh -c "ip addr add ${ADDRS[1]}/24 dev rx1 && ip link set rx1 up"
}

wait_idle() {  # until sinfo on node1 shows both nodes idle (at most ~30 s)
    local dir="$1" i state
    for i in $(seq 1 150); do
        state=$(nsenter --net="$dir/ns/net1" --uts="$dir/ns/uts1" --mount="$dir/ns/mnt1" \
            sinfo --noheader --Node --format=%t 2>/dev/null | sort -u | tr '\n' ' ') || true
        [ "$state" = "idle " ] && return 0
        sleep 0.2
    done
    die "the nodes did not become idle (sinfo: '${state:-no answer}'); see $dir/log/"
}

up() {
    local dir="$1"
    [ "$(id -u)" = 0 ] || die "needs root"
    for tool in unshare nsenter ip munged slurmctld slurmd sinfo srun; do
        command -v "$tool" >/dev/null || die "$tool is not installed"
    done
    [ -d "$dir" ] || die "$dir is not a folder"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    dir=$(cd "$dir" && pwd -P)
    UP_DIR="$dir"
    trap 'down "$UP_DIR" >/dev/null 2>&1 || true' EXIT  # whatever fails below, leave nothing running
    mkdir -p "$dir/etc" "$dir/state" "$dir/spool" "$dir/run" "$dir/log" "$dir/ns"
    printf '127.0.0.1 localhost\n%s node1\n%s node2\n' "${ADDRS[0]}" "${ADDRS[1]}" > "$dir/hosts"
    : > "$dir/resolv.conf"
    local sock
    sock=$(munge_socket_dir "$dir")
    write_conf "$dir" "$sock"
    # a mount-namespace pin must sit on a private mount: DIR/ns bound onto itself
    mount --bind "$dir/ns" "$dir/ns"
    mount --make-private "$dir/ns"
    make_node 1 "$dir"
    make_node 2 "$dir"
    link_nodes "$dir"
    start_munge "$dir" "$sock"
    local ns1=(--net="$dir/ns/net1" --uts="$dir/ns/uts1" --mount="$dir/ns/mnt1")
    local ns2=(--net="$dir/ns/net2" --uts="$dir/ns/uts2" --mount="$dir/ns/mnt2")
    nsenter "${ns1[@]}" slurmctld -i
    nsenter "${ns1[@]}" slurmd -N node1
    nsenter "${ns2[@]}" slurmd -N node2
    wait_idle "$dir"
    trap - EXIT
    echo "cluster up in $dir"
}

ns_pids() {  # pids of every process in node $1's network namespace
    local pin="$2/ns/net$1" inode pid
    [ -e "$pin" ] || return 0
    inode=$(stat -L -c %i "$pin" 2>/dev/null) || return 0
    for pid in /proc/[0-9]*; do
        [ "$(readlink "$pid/ns/net" 2>/dev/null)" = "net:[$inode]" ] && echo "${pid#/proc/}"
    done
    return 0
}

stop_pidfile() {  # SIGTERM the daemon named in $1, SIGKILL after ~5 s
    local file="$1" pid i
    [ -f "$file" ] || return 0
    pid=$(cat "$file" 2>/dev/null) || return 0
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

down() {
    local dir="$1" n pid
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd -P)
    for f in "$dir"/run/slurmd-*.pid "$dir/run/slurmctld.pid"; do
        stop_pidfile "$f" &
    done
    wait
    for n in 1 2; do  # job steps, srun clients, anything a test left on a node
        for pid in $(ns_pids "$n" "$dir"); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    stop_pidfile "$dir/run/munged.pid"
    if [ -f "$dir/run/munge-socket-dir" ]; then  # the folder munge_socket_dir made, and only that
        local sock
        sock=$(cat "$dir/run/munge-socket-dir")
        case "$sock" in /tmp/resnext-munge.*) rm -rf -- "$sock" ;; esac
        rm -f "$dir/run/munge-socket-dir"
    fi
    for n in 1 2; do
        for kind in net uts mnt; do
            if mountpoint -q "$dir/ns/$kind$n" 2>/dev/null || grep -qs " $dir/ns/$kind$n " /proc/self/mountinfo; then
                umount "$dir/ns/$kind$n" 2>/dev/null || umount -l "$dir/ns/$kind$n" 2>/dev/null || true
            fi
        done
    done
    if grep -qs " $dir/ns " /proc/self/mountinfo; then
        umount "$dir/ns" 2>/dev/null || umount -l "$dir/ns" 2>/dev/null || true
    fi
    echo "cluster down in $dir"
}

[ $# -ge 2 ] || usage
case "$1" in
    up) [ $# -eq 2 ] || usage; up "$2" ;;
    down) [ $# -eq 2 ] || usage; down "$2" ;;
    on) [ $# -ge 4 ] || usage; case "$2" in 1|2) ;; *) usage ;; esac; on_node "$2" "$3" "${@:4}" ;;
    *) usage ;;
esac
