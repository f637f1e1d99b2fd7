#!/usr/bin/env bash
# Run one command in the Ascend TF 1.15 image with the host's NPUs and driver, from the project dir.
#
#   docker/ascend/run.sh resnext train --config results/x/config.resolved.yaml --until-step 5004
#
# The project folder is mounted at the same path and used as the working directory, so relative
# and absolute paths mean the same inside and outside. Devices and mounts follow Ascend's docker
# instructions for the TF image: /dev/davinci<N>, davinci_manager, devmm_svm, hisi_hdc, and the
# driver, add-ons, npu-smi and /var/log/npu from the host (read-only except the logs).
#
# Environment:
#   RESNEXT_ENGINE       docker (default if present) or podman
#   RESNEXT_IMAGE        image to run (default resnext-ascend:latest)
#   RESNEXT_NPU_DEVICES  device ids to pass, e.g. "0-7" or "0,1,2,3" (default: every /dev/davinci<N>)
#   RESNEXT_DOCKER_ARGS  extra arguments for `<engine> run`, ONE PER LINE, each passed intact
#                        (never word-split or glob-expanded; blank lines are skipped), e.g. when
#                        data_url or results_dir lie outside the project folder:
#                          export RESNEXT_DOCKER_ARGS=$'--mount\ntype=bind,src=/my dt,dst=/my dt'
#                        A line that starts with - and has a blank before any = ("-v /data:/data",
#                        the old word-split style) is refused: give the value its own line, or -o=v.
#   RESNEXT_DOCKER_ARGS_FILE  a file of further arguments, each ended by a NUL byte, for any bytes
#                        at all (a newline too):  printf '%s\0' -v "/data:/data" > docker-args
#   RESNEXT_DRY_RUN=1    print the command instead of running it
#   CONTAINERS_CONF      podman only: its settings file, default docker/containers.conf of this
#                        project (runc, cgroupfs, the caller's ulimits: no systemd session needed, and
#                        no "error setting rlimit type 7" where the nofile hard limit is below 1048576);
#                        CONTAINERS_CONF=/etc/containers/containers.conf uses the system's instead
# Passed through when set: RANK_* / DEVICE_ID / ASCEND_DEVICE_ID / JOB_ID / RANK_TABLE_FILE /
# HCCL_* / RESNEXT_* / ASCEND_GLOBAL_LOG_LEVEL / TF_CPP_MIN_LOG_LEVEL (so `resnext with-device`
# can pick the device on the host).
set -euo pipefail

die() { echo "run.sh: $*" >&2; exit 2; }

[ "$#" -gt 0 ] || die "usage: $0 COMMAND [ARG...]"

engine="${RESNEXT_ENGINE:-}"
if [ -z "$engine" ]; then
    if command -v docker >/dev/null 2>&1; then engine=docker
    elif command -v podman >/dev/null 2>&1; then engine=podman
    else die "neither docker nor podman found; set RESNEXT_ENGINE"; fi
fi
case "$engine" in docker|podman) ;; *) die "RESNEXT_ENGINE must be docker or podman, not '$engine'";; esac
image="${RESNEXT_IMAGE:-resnext-ascend:latest}"
if [ "$engine" = podman ]; then
    export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)/containers.conf}"
fi
project="$(pwd -P)"
# --mount, not -v: -v splits its value at ':' (a project path may hold one); --mount's value is a
# comma-separated key=value list, so a ',' in the path cannot be given (nor a newline, anywhere)
case "$project" in
    *,* | *$'\n'*) die "the project folder '$project' holds a ',' or a newline, which" \
                       "'$engine run --mount' cannot take; move the project elsewhere" ;;
esac

# "0-3,6" -> "0 1 2 3 6"
expand_ids() {
    local part lo hi out=()
    IFS=',' read -r -a parts <<<"$1"
    for part in "${parts[@]}"; do
        part="${part// /}"
        [ -n "$part" ] || continue
        if [[ "$part" =~ ^([0-9]+)-([0-9]+)$ ]]; then
            lo="${BASH_REMATCH[1]}"; hi="${BASH_REMATCH[2]}"
            while [ "$lo" -le "$hi" ]; do out+=("$lo"); lo=$((lo + 1)); done
        elif [[ "$part" =~ ^[0-9]+$ ]]; then out+=("$part")
        else die "RESNEXT_NPU_DEVICES: '$part' is not an id or a range"; fi
    done
    echo "${out[*]}"
}

# RESNEXT_DOCKER_ARGS (one argument per line) and RESNEXT_DOCKER_ARGS_FILE (NUL-ended) -> extra[]
extra_args() {
    local line arg="" file
    extra=()
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        if [[ "$line" == -* && "${line%%=*}" == *[[:blank:]]* ]]; then
            die "RESNEXT_DOCKER_ARGS line '$line' is an option and its value on one line:" \
                "put each argument on its own line (RESNEXT_DOCKER_ARGS=\$'-v\\n/data:/data')," \
                "or write -o=value"
        fi
        extra+=("$line")
    done <<<"${RESNEXT_DOCKER_ARGS:-}"
    [ -n "${RESNEXT_DOCKER_ARGS_FILE:-}" ] || return 0
    file="$RESNEXT_DOCKER_ARGS_FILE"
    [ -f "$file" ] || die "RESNEXT_DOCKER_ARGS_FILE '$file' is not a file"
    while IFS= read -r -d '' arg; do extra+=("$arg"); done <"$file"
    # read fails at the end; a non-empty rest is an argument without its NUL (a file of lines?)
    [ -z "$arg" ] || die "RESNEXT_DOCKER_ARGS_FILE '$file' does not end in a NUL byte:" \
                         "write it with printf '%s\\0' ARG..."
}
extra_args

args=(run --rm --init --ipc=host --network=host -w "$project"
      --mount "type=bind,source=$project,target=$project")

# NPUs: the listed ones (each must exist), else every /dev/davinci<N> present
if [ -n "${RESNEXT_NPU_DEVICES:-}" ]; then
    for id in $(expand_ids "$RESNEXT_NPU_DEVICES"); do
        [ -e "/dev/davinci$id" ] || [ "${RESNEXT_DRY_RUN:-0}" = 1 ] ||
            die "RESNEXT_NPU_DEVICES lists $id but /dev/davinci$id does not exist"
        args+=(--device "/dev/davinci$id")
    done
else
    found=0
    for dev in /dev/davinci[0-9]*; do
        [ -e "$dev" ] || continue
        args+=(--device "$dev"); found=1
    done
    [ "$found" = 1 ] || [ "${RESNEXT_DRY_RUN:-0}" = 1 ] || die "no /dev/davinci<N> on this host (is the Ascend driver loaded?)"
fi
for dev in /dev/davinci_manager /dev/devmm_svm /dev/hisi_hdc; do
    if [ -e "$dev" ]; then args+=(--device "$dev")
    elif [ "${RESNEXT_DRY_RUN:-0}" != 1 ]; then die "$dev is missing (is the Ascend driver loaded?)"; fi
done

# driver and tools from the host, read-only; NPU logs writable
for path in /usr/local/Ascend/driver /usr/local/Ascend/add-ons /usr/local/sbin/npu-smi \
            /usr/local/bin/npu-smi /usr/local/dcmi /etc/ascend_install.info /etc/hccn.conf; do
    [ -e "$path" ] && args+=(-v "$path:$path:ro")
done
if [ -d /var/log/npu ]; then
    args+=(-v /var/log/npu:/var/log/npu -v /var/log/npu:/usr/slog)
fi

# the per-job environment chosen on the host
for name in $(compgen -e); do
    case "$name" in
        RESNEXT_ENGINE|RESNEXT_IMAGE|RESNEXT_DOCKER_ARGS|RESNEXT_DOCKER_ARGS_FILE) ;;
        RESNEXT_DRY_RUN) ;;
        RANK_ID|RANK_SIZE|RANK_TABLE_FILE|DEVICE_ID|ASCEND_DEVICE_ID|JOB_ID|HCCL_*|RESNEXT_*|\
        ASCEND_GLOBAL_LOG_LEVEL|TF_CPP_MIN_LOG_LEVEL|PYTHONUNBUFFERED)
            args+=(-e "$name");;
    esac
done

if [ "$engine" = podman ]; then
    args+=(--security-opt label=disable)  # SELinux would otherwise hide the device nodes
fi
args+=(${extra[@]+"${extra[@]}"} "$image" "$@")  # the + form: bash < 4.4 calls an empty array unset

if [ "${RESNEXT_DRY_RUN:-0}" = 1 ]; then
    if [ "$engine" = podman ]; then echo "# with CONTAINERS_CONF=$CONTAINERS_CONF" >&2; fi
    printf '%q ' "$engine" "${args[@]}"; echo
    exit 0
fi
exec "$engine" "${args[@]}"
