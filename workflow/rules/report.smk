# The report: `resnext report` -> resnext.report.build_report turns the results JSON into report/
# {report.html, report.md, eval_table.txt, audit.json, mllog.txt, <plot>.png} (resnext.paths), and
# the run's RO-Crate, <run>/ro-crate-metadata.json, with the workflow copied into <run>/workflow/.
# Outputs wrapped in report() carry RST captions (workflow/report/), so after a run
#   snakemake --report report.html
# builds Snakemake's own report with our report.html, the plots and the audit files in it.
# Benchmark results (benchmark/*.json, `snakemake benchmark`) feed the throughput section: the report
# takes those on disk when the DAG is built (and reruns when one appears) but never asks for one.
import glob


report: "../report/workflow.rst"


rule report:
    input:
        config=rules.resolve_config.output.config,
        manifest=DATA.manifest_path,
        evals=evals_of(CFG.block_steps),
        export=rules.export.output.record,
        benchmarks=lambda wildcards: sorted(glob.glob(f"{paths.benchmark_dir(RUN)}/*.json")),
    output:
        html=report_output("html", "report_html", "1. Report"),
        md=report_output("md", "report_md", "3. Machine-readable"),
        table=report_output("table", "eval_table", "3. Machine-readable"),
        audit=report_output("audit", "audit", "3. Machine-readable"),
        mllog=report_output("mllog", "mllog", "3. Machine-readable"),
        crate=paths.crate_metadata(RUN),
        plots=[
            report(
                paths.plot_file(paths.report_dir(RUN), plot),
                caption=f"../report/{plot}.rst",
                category="Report",
                subcategory="2. Plots",
            )
            for plot in paths.PLOTS
        ],
    log:
        log_of("report"),
    conda:
        HOST_ENV
    shell:
        "resnext report --config {input.config:q} > {log:q} 2>&1"
