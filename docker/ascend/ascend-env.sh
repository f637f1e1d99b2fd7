#!/usr/bin/env bash
# Environment of the Ascend TF runtime inside the container. Sourced by every non-interactive bash
# (BASH_ENV, so Snakemake's `bash -c` under apptainer gets it) and run as the image's entrypoint
# (`ascend-env.sh CMD...` sources itself, then execs CMD).
# Sources whichever CANN set_env.sh scripts the image has (toolkit/nnae/tfplugin for CANN 20.x-5.x,
# cann/ for newer), then puts the host driver's libraries (mounted by run.sh) on LD_LIBRARY_PATH.
for _resnext_env in /usr/local/Ascend/cann/set_env.sh \
                    /usr/local/Ascend/ascend-toolkit/set_env.sh \
                    /usr/local/Ascend/nnae/set_env.sh \
                    /usr/local/Ascend/tfplugin/set_env.sh; do
    # shellcheck disable=SC1090
    [ -f "$_resnext_env" ] && . "$_resnext_env"
done
unset _resnext_env
for _resnext_lib in /usr/local/Ascend/driver/lib64/driver /usr/local/Ascend/driver/lib64/common \
                    /usr/local/Ascend/driver/lib64 /usr/local/Ascend/add-ons; do
    case ":${LD_LIBRARY_PATH:-}:" in
        *":$_resnext_lib:"*) ;;
        *) [ -d "$_resnext_lib" ] && export LD_LIBRARY_PATH="$_resnext_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
    esac
done
unset _resnext_lib
export SOC_VERSION="${SOC_VERSION:-Ascend910}"

# run as a program (the entrypoint): exec the command; sourced: just leave the environment set
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "$#" -gt 0 ]; then
    exec "$@"
fi
