# `snakemake benchmark`: the standard throughput benchmark (resnext benchmark: synthetic data, train
# step, warm-up excluded) on the configured backend and devices. The report's throughput section
# reads its JSON when present; `all` does not ask for it. The job takes every core (and every
# configured NPU), so it never overlaps a training block or an evaluation and measures a quiet machine.
rule benchmark:
    input:
        config=RESOLVED,
    output:
        report(f"{RUN}/benchmark/train-synthetic-{CFG.rank_size}x{CFG.batch_size}.json",
               caption="../report/benchmark.rst", category="Throughput"),
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
        f"{LOGS}/benchmark.log",
    shell:
        "{params.prefix}resnext benchmark --config {input.config} --mode train --data synthetic --out {output} > {log} 2>&1"
