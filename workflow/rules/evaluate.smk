# One evaluation job per checkpoint: eval/step-<step>.json and its per-image predictions.
# `evaluate` asks only for checkpoints already on disk.
rule evaluate_checkpoint:
    input:
        config=RESOLVED,
        manifest=MANIFEST,
        index=lambda wc: ancient(ckpt_index(wc.step)),
    output:
        json=eval_json("{step}"),
        predictions=eval_predictions("{step}"),
    wildcard_constraints:
        step=r"\d+",
    resources:
        npu=1 if NPU else 0,
    container:
        CONTAINER
    params:
        prefix=with_devices(1) + WRAP,
    conda:
        HOST_ENV
    log:
        f"{LOGS}/evaluate-{{step}}.log",
    shell:
        "{params.prefix}resnext evaluate --config {input.config} --checkpoint {input.index} --out {output.json:q} > {log} 2>&1"


rule evaluate:
    input:
        existing_checkpoint_evals(),
