# The final checkpoint -> export/<arch>.pb and export/export.json: `resnext export` ->
# resnext.export.export.


rule export:
    input:
        config=rules.resolve_config.output.config,
        manifest=rules.convert.output.manifest,
        index=expand(rules.train_block.output.index, step=CFG.train_steps),
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
        prefix=WRAP,
    shell:
        "{params.prefix:q} resnext export --config {input.config:q} --checkpoint {input.index:q}"
        " > {log:q} 2>&1"
