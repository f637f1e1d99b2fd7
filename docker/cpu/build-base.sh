#!/usr/bin/env bash
# Build the CPU image's base locally, without any container registry: debootstrap a minimal Debian
# bookworm (python3 3.11, venv, pip) into a folder and `podman import` it as an image.
#
#   sudo docker/cpu/build-base.sh                       # -> localhost/resnext-base:bookworm
#   sudo docker/cpu/build-base.sh localhost/other:tag
#
# Environment:
#   DEBIAN_MIRROR   Debian mirror (default http://deb.debian.org/debian; any apt mirror or proxy)
#   RESNEXT_ENGINE  podman (default) or docker (both have `import`)
#   KEEP_ROOTFS=1   keep the debootstrap folder (printed) instead of deleting it
# Needs root (debootstrap creates device nodes and chroots) plus debootstrap and podman/docker.
set -euo pipefail

tag="${1:-localhost/resnext-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
engine="${RESNEXT_ENGINE:-podman}"
suite=bookworm

die() { echo "build-base.sh: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap needs it), e.g. sudo $0 $*"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
command -v "$engine" >/dev/null || die "$engine is not installed; set RESNEXT_ENGINE"

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/resnext-base.XXXXXX")"
cleanup() {
    for m in proc sys dev/pts dev; do umount "$rootfs/$m" 2>/dev/null || true; done
    if [ "${KEEP_ROOTFS:-0}" = 1 ]; then echo "rootfs kept in $rootfs" >&2; else rm -rf "$rootfs"; fi
}
trap cleanup EXIT

echo "debootstrap $suite from $mirror into $rootfs" >&2
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates,make,git \
    "$suite" "$rootfs" "$mirror"

# trim what an image does not need; keep apt usable (sources.list points at the mirror used)
chroot "$rootfs" /bin/sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/*'
printf 'deb %s %s main\n' "$mirror" "$suite" > "$rootfs/etc/apt/sources.list"
python_version="$(chroot "$rootfs" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
case "$python_version" in 3.1[1-9]|3.[2-9][0-9]) ;; *) die "bookworm gave Python $python_version, need >= 3.11";; esac

echo "importing as $tag (Python $python_version)" >&2
tar --numeric-owner -C "$rootfs" -c . | "$engine" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$tag"
echo "built $tag" >&2
