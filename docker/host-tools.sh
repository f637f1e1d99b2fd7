#!/usr/bin/env bash
# Make sure this host can build and run the project's images with podman: podman, runc and
# debootstrap (plus uidmap for rootless use), installed from Debian/Ubuntu apt when missing.
#
#   docker/host-tools.sh            # installs what is missing (needs root), else does nothing
#   docker/host-tools.sh --check    # only report; exit 1 if something is missing
#
# Prints "timing: apt-install <s> s" when it installed something. Nothing here is global podman
# configuration: the project's settings live in docker/containers.conf (CONTAINERS_CONF).
set -euo pipefail

need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v newuidmap >/dev/null 2>&1 || need+=(uidmap)

if [ "${#need[@]}" = 0 ]; then
    echo "host-tools: podman $(podman --version | awk '{print $3}'), runc and debootstrap present" >&2
    exit 0
fi
if [ "${1:-}" = --check ]; then
    echo "host-tools: missing: ${need[*]}" >&2
    exit 1
fi
[ "$(id -u)" = 0 ] || { echo "host-tools: missing ${need[*]}; install them as root: apt-get install -y ${need[*]}" >&2; exit 2; }
command -v apt-get >/dev/null || { echo "host-tools: no apt-get; install ${need[*]} with this system's package manager" >&2; exit 2; }

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
# wait for another apt/dpkg run (up to 15 min) instead of failing on its lock
apt_opts=(-o DPkg::Lock::Timeout=900 -y -q)
apt-get "${apt_opts[@]}" update
# with Recommends (netavark/aardvark-dns for networks, catatonit for --init, fuse-overlayfs,
# slirp4netns): the set this was verified with on bookworm (podman 4.3.1, runc 1.1.5)
apt-get "${apt_opts[@]}" install podman runc debootstrap uidmap
echo "timing: apt-install $(( $(date +%s) - start )) s (${need[*]})" >&2
