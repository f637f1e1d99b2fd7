#!/usr/bin/env bash
# Fill docker/wheelhouse-cpu/ with wheels for every pin in requirements.txt, for the CPU image's
# Python (Debian bookworm: CPython 3.11, glibc 2.36), so `podman build -f docker/cpu/Dockerfile`
# installs offline (no index, no network, no certificate inside the build).
#
#   docker/cpu/wheelhouse.sh                              # requirements.txt -> docker/wheelhouse-cpu
#   docker/cpu/wheelhouse.sh REQUIREMENTS DEST
#
# Runs on the host with its pip (PIP, default .venv/bin/pip else python3 -m pip), so the host's pip
# configuration (index, proxy, certificates) applies. requirements.txt is a complete freeze, hence
# --no-deps; the install in the image checks the set is consistent. Wheels are chosen for the
# image's platform, not the host's: cp311 and manylinux tags up to glibc 2.36 for this machine's
# architecture. A pin published only as an sdist is built into a wheel here; that wheel must be
# pure Python (py3-none-any), else the script fails (it would have been built for the host).
# `pip freeze` leaves out setuptools and wheel, which the freeze's packages need at run time
# (tensorflow -> setuptools, astunparse -> wheel): unless REQUIREMENTS pins them, their versions in the
# host runtime go to DEST/build-tools.txt and into the wheelhouse (the Dockerfile installs both files).
# Writes DEST/.complete (sha256 of the requirements) last, so `make` sees a finished wheelhouse.
set -euo pipefail

req="${1:-requirements.txt}"
dest="${2:-docker/wheelhouse-cpu}"
py_version=3.11       # python3 of Debian bookworm (docker/cpu/build-base.sh)
glibc_minor=36        # glibc 2.36 of Debian bookworm
if [ -n "${PIP:-}" ]; then read -r -a pip <<<"$PIP"  # e.g. PIP="python3 -m pip"
elif [ -x .venv/bin/pip ]; then pip=(.venv/bin/pip)
else pip=(python3 -m pip); fi

die() { echo "wheelhouse.sh: $*" >&2; exit 2; }
[ -f "$req" ] || die "no $req"
arch="$(uname -m)"
case "$arch" in
    x86_64) first=5; legacy=(manylinux2014_x86_64 manylinux2010_x86_64 manylinux1_x86_64);;
    aarch64) first=17; legacy=(manylinux2014_aarch64);;
    *) die "no manylinux wheels for $arch";;
esac
# pip does not widen a manylinux_2_N tag to older glibc versions by itself: list them all
platforms=()
for minor in $(seq "$first" "$glibc_minor"); do platforms+=(--platform "manylinux_2_${minor}_${arch}"); done
for tag in "${legacy[@]}"; do platforms+=(--platform "$tag"); done
abi="cp${py_version/./}"

start=$(date +%s)
mkdir -p "$dest"
rm -f "$dest"/.complete "$dest"/build-tools.txt "$dest"/*.whl "$dest"/*.tar.gz "$dest"/*.zip
: > "$dest/build-tools.txt"
for tool in setuptools wheel; do
    grep -qiE "^${tool}\s*==" "$req" && continue
    pin="$("${pip[@]}" freeze --all 2>/dev/null | grep -iE "^${tool}==" || true)"
    echo "${pin:-$tool}" >> "$dest/build-tools.txt"
done
"${pip[@]}" download --quiet --no-deps --dest "$dest" -r "$req" -r "$dest/build-tools.txt" \
    --python-version "$py_version" --implementation cp --abi "$abi" --abi abi3 --abi none "${platforms[@]}"

shopt -s nullglob
for sdist in "$dest"/*.tar.gz "$dest"/*.zip; do
    echo "wheelhouse.sh: building $(basename "$sdist") (no wheel on the index)" >&2
    "${pip[@]}" wheel --quiet --no-deps --wheel-dir "$dest" "$sdist"
    rm -f "$sdist"
done
for wheel in "$dest"/*.whl; do
    case "$wheel" in
        *-none-any.whl|*-"$abi"-*manylinux*.whl|*-abi3-*manylinux*.whl|*-none-*manylinux*.whl) ;;
        *) die "$(basename "$wheel") is not for CPython $py_version manylinux (built for this host?)";;
    esac
done

wanted=$(cat "$req" "$dest/build-tools.txt" | grep -cEv '^\s*(#|$)')
have=$(ls "$dest"/*.whl | wc -l)
[ "$have" -ge "$wanted" ] || die "$have wheels for $wanted pins in $req"
sha256sum "$req" | awk '{print $1}' > "$dest/.complete"
echo "timing: wheelhouse $(( $(date +%s) - start )) s ($have wheels, $(du -sh "$dest" | cut -f1))" >&2
