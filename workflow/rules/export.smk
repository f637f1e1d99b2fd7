rule export:
    input:
        config=RESOLVED,
        manifest=MANIFEST,
        index=ckpt_index(CFG.train_steps),
    output:
        graph=f"{RUN}/export/{CFG.arch}.pb",
        record=f"{RUN}/export/export.json",
    container:
        CONTAINER
    params:
        prefix=WRAP,
    conda:
        HOST_ENV
    log:
        f"{LOGS}/export.log",
    shell:
        "{params.prefix}resnext export --config {input.config} --checkpoint {input.index} > {log} 2>&1"
