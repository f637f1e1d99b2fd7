#!/usr/bin/env bash
# Build the CPU image's base locally, without any container registry: debootstrap a minimal Debian
# bookworm (python3 3.11, venv, pip, git, make) into a folder and `podman import` it as an image.
#
#   sudo docker/cpu/build-base.sh                          # -> localhost/resnext-base:bookworm
#   sudo docker/cpu/build-base.sh --if-missing             # only when no image of that name exists
#   sudo docker/cpu/build-base.sh localhost/other:tag
#
# Environment:
#   DEBIAN_MIRROR    Debian mirror (default http://deb.debian.org/debian; any apt mirror or proxy)
#   RESNEXT_ENGINE   podman (default) or docker (both have `import`)
#   CONTAINERS_CONF  podman settings (default: docker/containers.conf next to this script)
#   KEEP_ROOTFS=1    keep the debootstrap folder (printed) instead of deleting it
# Needs root (debootstrap creates device nodes and chroots) plus debootstrap and podman/docker.
# The image is cached by name: `podman rmi localhost/resnext-base:bookworm` to rebuild it.
# Prints "timing: <phase> <s> s" for debootstrap, trim and import.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
if_missing=0
if [ "${1:-}" = --if-missing ]; then if_missing=1; shift; fi
tag="${1:-localhost/resnext-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
engine="${RESNEXT_ENGINE:-podman}"
suite=bookworm
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/../containers.conf}"

die() { echo "build-base.sh: $*" >&2; exit 2; }
command -v "$engine" >/dev/null || die "$engine is not installed; run docker/host-tools.sh or set RESNEXT_ENGINE"
if [ "$if_missing" = 1 ] && "$engine" image inspect "$tag" >/dev/null 2>&1; then
    echo "build-base.sh: $tag exists (cached by name; '$engine rmi $tag' to rebuild)" >&2
    exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root (debootstrap needs it), e.g. sudo $0 $*"
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] ||
    die "debootstrap is not installed (docker/host-tools.sh, or apt-get install debootstrap)"
export PATH="$PATH:/usr/sbin:/sbin"

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/resnext-base.XXXXXX")"
cleanup() {
    for m in proc sys dev/pts dev; do umount "$rootfs/$m" 2>/dev/null || true; done
    if [ "${KEEP_ROOTFS:-0}" = 1 ]; then echo "rootfs kept in $rootfs" >&2; else rm -rf "$rootfs"; fi
}
trap cleanup EXIT
t0=$(date +%s)

echo "debootstrap $suite from $mirror into $rootfs" >&2
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates,make,git \
    "$suite" "$rootfs" "$mirror"
t1=$(date +%s); echo "timing: debootstrap $((t1 - t0)) s" >&2

# trim what an image does not need (apt lists and caches, manuals, translations; the copyright files
# stay); keep apt usable: sources.list points at the mirror used, `apt-get update` refills the lists
chroot "$rootfs" /bin/sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/* /var/log/*.log'
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
       "$rootfs"/usr/share/doc-base "$rootfs"/usr/share/lintian
find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
printf 'deb %s %s main\n' "$mirror" "$suite" > "$rootfs/etc/apt/sources.list"
python_version="$(chroot "$rootfs" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
case "$python_version" in 3.1[1-9]|3.[2-9][0-9]) ;; *) die "bookworm gave Python $python_version, need >= 3.11";; esac
t2=$(date +%s); echo "timing: trim $((t2 - t1)) s" >&2

echo "importing as $tag (Python $python_version)" >&2
tar --numeric-owner -C "$rootfs" -c . | "$engine" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL org.opencontainers.image.title=resnext-base org.opencontainers.image.description=debootstrap-$suite-minbase-python$python_version" \
    --change 'CMD ["/bin/bash"]' \
    - "$tag"
t3=$(date +%s); echo "timing: import $((t3 - t2)) s" >&2
echo "built $tag ($((t3 - t0)) s)" >&2
