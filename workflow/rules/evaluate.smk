# One evaluation job per checkpoint: `resnext evaluate` -> resnext.evaluate.evaluate writes
# eval/step-<step>.json and its per-image predictions. `evaluate` asks only for checkpoints already
# on disk, so it never trains.


rule evaluate_checkpoint:
    input:
        config=rules.resolve_config.output.config,
        manifest=rules.convert.output.manifest,
        index=lambda wc: ancient(expand(rules.train_block.output.index, step=wc.step)),
    output:
        json=paths.eval_json(RUN, "{step}"),
        predictions=paths.eval_predictions(paths.eval_json(RUN, "{step}")),
    log:
        log_of("evaluate-{step}"),
    wildcard_constraints:
        step=r"\d+",
    conda:
        HOST_ENV
    container:
        CONTAINER
    resources:
        npu=1 if NPU else 0,
    params:
        prefix=with_devices(1) + WRAP,
    shell:
        "{params.prefix:q} resnext evaluate --config {input.config:q} --checkpoint {input.index:q}"
        " --out {output.json:q} > {log:q} 2>&1"


rule evaluate:
    input:
        evals_of(checkpoints.complete_steps(CFG.train_dir)),
