rule resolve_config:
    output:
        RESOLVED,
    params:
        values=config_json(),
    conda:
        HOST_ENV
    log:
        f"{LOGS}/resolve_config.log",
    shell:
        "resnext resolve-config --json {params.values:q} --out {output} > {log} 2>&1"


rule demo_data:
    input:
        config=RESOLVED,
    output:
        f"{CFG.source_path}/demo.json",
    conda:
        HOST_ENV
    log:
        f"{LOGS}/demo_data.log",
    shell:
        "resnext demo-data --config {input.config} > {log} 2>&1"


rule convert:
    input:
        config=RESOLVED,
        source=demo_marker(),
    output:
        MANIFEST,
    threads: CFG.convert_workers
    conda:
        HOST_ENV
    log:
        f"{LOGS}/convert.log",
    shell:
        "resnext convert --config {input.config} > {log} 2>&1"
