rule report:
    input:
        config=RESOLVED,
        manifest=MANIFEST,
        evals=all_evals(),
        export=f"{RUN}/export/export.json",
    output:
        report_outputs(),
    conda:
        HOST_ENV
    log:
        f"{LOGS}/report.log",
    shell:
        "resnext report --config {input.config} > {log} 2>&1"
