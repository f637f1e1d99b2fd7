# The run's inputs: resolve_config (write_resolved in common.smk, in-process), stage_settings
# (write_settings in common.smk, in-process), demo_data (`resnext demo-data` ->
# resnext.data.demo.write_demo_tree), and convert (`resnext convert` ->
# resnext.data.convert.convert) or index (`resnext index` -> resnext.data.index.index), whichever
# resnext.data.choice.decide names.


rule resolve_config:
    output:
        config=paths.resolved_config(RUN),
    log:
        log_of("resolve_config"),
    params:
        sha256=CFG.sha256(),  # a changed config resolves again (Snakemake's params rerun trigger)
    run:
        resolve(output.config, log[0])


# settings/<stage>.json: rewritten only when a key affecting that stage changes (the params
# trigger); the jobs of the stage take it as input (see rules/common.smk).
rule stage_settings:
    output:
        settings=paths.stage_settings(RUN, "{stage}"),
    log:
        log_of("settings-{stage}"),
    wildcard_constraints:
        stage="|".join(STAGES),
    params:
        sha256=lambda wildcards: CFG.sha256(wildcards.stage),
    run:
        write_settings(wildcards.stage, output.settings, log[0])


rule demo_data:
    input:
        config=settled(rules.resolve_config.output.config),
        settings=settings("data"),
    output:
        marker=paths.demo_marker(CFG.source_path),
    log:
        log_of("demo_data"),
    conda:
        HOST_ENV
    shell:
        "resnext demo-data --config {input.config:q} > {log:q} 2>&1"


# Exactly one of convert / index produces the manifest, or neither: data_url holding the manifest of
# an earlier conversion is read as it is (DATA.mode "converted"; docs/data.md "Which data a run uses").
if DATA.mode == "convert":

    rule convert:
        input:
            config=settled(rules.resolve_config.output.config),
            settings=settings("data"),
            source=demo_marker(),
        output:
            manifest=DATA.manifest_path,
        log:
            log_of("convert"),
        conda:
            HOST_ENV
        threads: CFG.convert_workers
        shell:
            "resnext convert --config {input.config:q} > {log:q} 2>&1"

elif DATA.mode == "index":

    # data_url's shards read where they are (resnext.data.index), never converted or written; the
    # manifest goes to <run>/data. Threads: the record checks, and the sha256 in a thread of its own.
    rule index:
        input:
            config=settled(rules.resolve_config.output.config),
            settings=settings("data"),
        output:
            manifest=DATA.manifest_path,
        log:
            log_of("index"),
        conda:
            HOST_ENV
        threads: 2
        shell:
            "resnext index --config {input.config:q} > {log:q} 2>&1"
