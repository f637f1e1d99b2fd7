# The final checkpoint -> export/<arch>.pb and export/export.json: `resnext export` ->
# resnext.export.export.


rule export:
    input:
        config=settled(rules.resolve_config.output.config),
        manifest=manifest(),
        trained=trained(CFG.train_steps),
        settings=settings("export"),
    output:
        graph=paths.export_graph(paths.export_dir(RUN), CFG.arch),
        record=paths.export_record(paths.export_dir(RUN)),
    log:
        log_of("export"),
    conda:
        HOST_ENV
    container:
        CONTAINER
    params:
        prefix=lambda wildcards, input: WRAP,
        checkpoint=paths.ckpt_prefix(CFG.train_dir, CFG.train_steps),
    shell:
        "{params.prefix:q} resnext export --config {input.config:q}"
        " --checkpoint {params.checkpoint:q}"
        " > {log:q} 2>&1"
