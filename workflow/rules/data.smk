# The run's inputs: resolve_config (write_resolved in common.smk, in-process), demo_data
# (`resnext demo-data` -> resnext.data.demo.write_demo_tree) and convert (`resnext convert` ->
# resnext.data.convert.convert).


rule resolve_config:
    output:
        config=paths.resolved_config(RUN),
    log:
        log_of("resolve_config"),
    params:
        sha256=CFG.sha256(),  # a changed config resolves again (Snakemake's params rerun trigger)
    run:
        resolve(output.config, log[0])


rule demo_data:
    input:
        config=rules.resolve_config.output.config,
    output:
        marker=paths.demo_marker(CFG.source_path),
    log:
        log_of("demo_data"),
    conda:
        HOST_ENV
    shell:
        "resnext demo-data --config {input.config:q} > {log:q} 2>&1"


rule convert:
    input:
        config=rules.resolve_config.output.config,
        source=demo_marker(),
    output:
        manifest=paths.manifest(CFG.data_dir),
    log:
        log_of("convert"),
    conda:
        HOST_ENV
    threads: CFG.convert_workers
    shell:
        "resnext convert --config {input.config:q} > {log:q} 2>&1"
