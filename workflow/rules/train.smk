# One job per training block; the job resumes from the newest complete checkpoint and ends in one
# at the block boundary (it also writes train/block-<b>.json and appends train/metrics.jsonl).
rule train_block:
    input:
        config=RESOLVED,
        manifest=MANIFEST,
        previous=previous_block,
    output:
        index=f"{CFG.train_dir}/ckpt/model.ckpt-{{step}}.index",
    wildcard_constraints:
        step=r"\d+",
    threads: all_cores
    resources:
        npu=CFG.rank_size if NPU else 0,
    container:
        CONTAINER
    params:
        prefix=with_devices(min(CFG.rank_size, len(CFG.npu_device_ids))) + WRAP,
    conda:
        HOST_ENV
    log:
        f"{LOGS}/train-{{step}}.log",
    shell:
        "{params.prefix}resnext train --config {input.config} --until-step {wildcards.step} > {log} 2>&1"
