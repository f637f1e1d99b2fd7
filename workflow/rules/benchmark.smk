# `snakemake benchmark`: the standard throughput benchmark (`resnext benchmark` ->
# resnext.benchmark.run: synthetic data, train step, warm-up excluded) on the configured backend and
# devices. The report's throughput section reads its JSON when present; `all` does not ask for it.
# The job takes every core (and every configured NPU), so it never overlaps a training block or an
# evaluation and measures a quiet machine.


rule benchmark:
    input:
        config=rules.resolve_config.output.config,
    output:
        report(
            paths.benchmark_json(RUN, "train", "synthetic", CFG.rank_size, CFG.batch_size),
            caption="../report/benchmark.rst",
            category="Throughput",
        ),
    log:
        log_of("benchmark"),
    conda:
        HOST_ENV
    container:
        CONTAINER
    threads: all_cores
    resources:
        npu=RANK_NPUS,
    params:
        prefix=rank_devices,
    shell:
        "{params.prefix:q} resnext benchmark --config {input.config:q} --mode train"
        " --data synthetic --out {output:q} > {log:q} 2>&1"
