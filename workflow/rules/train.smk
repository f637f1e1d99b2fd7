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
    threads: workflow.cores
    log:
        f"{LOGS}/train-{{step}}.log",
    shell:
        "resnext train --config {input.config} --until-step {wildcards.step} > {log} 2>&1"
