# `snakemake verify` (after `all`): `resnext verify` -> resnext.verify.verify re-checks, from the
# bytes on disk, every hash and number the run's records claim, and writes <run>/verify.json. Its
# own target, never part of `all`: hashing every shard and checkpoint is not the demo's to pay.
# The job reruns when the report or a record it checks is rewritten; a run received from elsewhere
# is checked with `resnext verify <run folder>` (or --forcerun verify_run).


rule verify_run:
    input:
        config=rules.resolve_config.output.config,
        report=rules.report.output,
        evals=evals_of(CFG.block_steps),
        export=rules.export.output.record,
    output:
        record=paths.verify_record(RUN),
    log:
        log_of("verify"),
    conda:
        HOST_ENV
    params:
        run=lambda wildcards, input: os.path.dirname(input.config),  # the run folder
    shell:
        "resnext verify {params.run:q} --out {output.record:q} > {log:q} 2>&1"


rule verify:
    input:
        rules.verify_run.output.record,
