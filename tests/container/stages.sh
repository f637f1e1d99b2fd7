#!/usr/bin/env bash
# The demo's stages through the package CLI, run INSIDE the CPU image by test_cpu_image.py:
# resolve-config -> demo-data -> convert -> train (two blocks, --until-step) -> evaluate (each
# checkpoint) -> export. Results go to OUT (a host folder bind-mounted into the container).
#
#   stages.sh OUT [KEY=VALUE ...]      # extra KEY=VALUE are config overrides (--set)
#
# The config is the embedded demo (config/config.yaml of the image: the real ResNeXt-50 32x4d on
# the digits at 32x32), cut to 4 steps in 2 blocks. Prints "timing: <stage> <s> s" per stage and
# "elapsed: <s> s" at the end; a failing stage prints its log's tail and exits non-zero.
set -euo pipefail

out="${1:?usage: stages.sh OUT [KEY=VALUE ...]}"
shift
run=demo
sets=(--set "results_dir=$out" --set "run_name=$run" --set max_train_steps=4 --set checkpoint_every_steps=2
      --set iterations_per_loop=2 --set batch_size=16 --set train_shards=2 --set validation_shards=1)
for kv in "$@"; do sets+=(--set "$kv"); done
resolved="$out/$run/config.resolved.yaml"
logs="$out/$run/logs"
mkdir -p "$logs"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t_all=$(now)
stage() {  # stage NAME COMMAND...
    local name="$1" t0 rc=0
    shift
    t0=$(now)
    "$@" > "$logs/$name.log" 2>&1 || rc=$?
    echo "timing: $name $(since "$t0") s"
    if [ "$rc" != 0 ]; then
        echo "stage $name failed (exit $rc): $*" >&2
        tail -n 40 "$logs/$name.log" >&2
        exit "$rc"
    fi
}

echo "inside: $(python3 --version), $(python3 -c 'import tensorflow as tf; print("TensorFlow", tf.__version__)' 2>/dev/null), $(nproc) cores, $(id -un)"
stage resolve-config resnext resolve-config --config config/config.yaml "${sets[@]}" --out "$resolved"
stage demo-data resnext demo-data --config "$resolved"
stage convert resnext convert --config "$resolved"
stage train-block-1 resnext train --config "$resolved" --until-step 2
stage train-block-2 resnext train --config "$resolved" --until-step 4
for step in 2 4; do
    stage "evaluate-$step" resnext evaluate --config "$resolved" \
        --checkpoint "$out/$run/train/ckpt/model.ckpt-$step.index" --out "$out/$run/eval/step-$step.json"
done
stage export resnext export --config "$resolved" --checkpoint "$out/$run/train/ckpt/model.ckpt-4.index"
echo "elapsed: $(since "$t_all") s"
