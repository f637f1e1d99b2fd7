# One job per training block: `resnext train` -> resnext.train.launch.train (one process per rank,
# each `resnext train-rank` -> resnext.train.loop.train_block). The job resumes from the newest
# complete checkpoint and ends in one at the block boundary (it also writes train/block-<b>.json
# and appends train/metrics.jsonl).


rule train_block:
    input:
        config=settled(rules.resolve_config.output.config),
        manifest=manifest(),
        previous=previous_block,
    output:
        done=paths.block_done(CFG.train_dir, "{step}"),
    log:
        log_of("train-{step}"),
    wildcard_constraints:
        step=r"\d+",
    conda:
        HOST_ENV
    container:
        CONTAINER
    threads: all_cores
    resources:
        **SLURM_TRAIN,
        npu=RANK_NPUS,
    params:
        prefix=rank_devices,
    shell:
        "{params.prefix:q} resnext train --config {input.config:q} --until-step {wildcards.step:q}"
        " > {log:q} 2>&1"
