# `snakemake npu_check` (first, on a new Ascend server): `resnext npu-check` ->
# resnext.npucheck.check.run: versions, a 1-device and a 2-device tiny run, evaluation and export,
# the rank table; <run>/npu-check/npu-check.json and one log per item beside it. Inside the
# container and on pool devices as training is (common.smk's with_devices + WRAP). Its own target,
# never part of `all`; the job fails when an item FAILED (the log names it).


rule npu_check_run:
    input:
        config=rules.resolve_config.output.config,
    output:
        record=paths.npu_check_record(paths.npu_check_dir(RUN)),
    log:
        log_of("npu-check"),
    conda:
        HOST_ENV
    container:
        CONTAINER
    threads: all_cores
    resources:
        npu=min(2, len(CFG.npu_device_ids)) if NPU else 0,
    params:
        prefix=lambda wildcards, input: with_devices(min(2, len(CFG.npu_device_ids))) + WRAP,
        out=lambda wildcards, output: os.path.dirname(output.record),  # <run>/npu-check
    shell:
        "{params.prefix:q} resnext npu-check --config {input.config:q} --out {params.out:q}"
        " > {log:q} 2>&1"


rule npu_check:
    input:
        rules.npu_check_run.output.record,
