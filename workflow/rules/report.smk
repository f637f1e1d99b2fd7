# The report: results JSON -> report/{report.html, report.md, eval_table.txt, audit.json, mllog.txt, *.png}.
# Outputs wrapped in report() carry RST captions (workflow/report/), so after a run
#   snakemake --report report.html
# builds Snakemake's own report with our report.html, the plots and the audit files in it.
# Benchmark results (benchmark/*.json, `snakemake benchmark`) feed the throughput section: the report
# takes those on disk when the DAG is built (and reruns when one appears) but never asks for one.
import glob


report: "../report/workflow.rst"


rule report:
    input:
        config=RESOLVED,
        manifest=MANIFEST,
        evals=all_evals(),
        export=f"{RUN}/export/export.json",
        benchmarks=lambda wildcards: sorted(glob.glob(f"{RUN}/benchmark/*.json")),
    output:
        html=report(f"{RUN}/report/report.html", caption="../report/report_html.rst", category="Report",
                    subcategory="1. Report"),
        md=report(f"{RUN}/report/report.md", caption="../report/report_md.rst", category="Report",
                  subcategory="3. Machine-readable"),
        table=report(f"{RUN}/report/eval_table.txt", caption="../report/eval_table.rst", category="Report",
                     subcategory="3. Machine-readable"),
        audit=report(f"{RUN}/report/audit.json", caption="../report/audit.rst", category="Report",
                     subcategory="3. Machine-readable"),
        mllog=report(f"{RUN}/report/mllog.txt", caption="../report/mllog.rst", category="Report",
                     subcategory="3. Machine-readable"),
        plots=[report(f"{RUN}/report/{plot}.png", caption=f"../report/{plot}.rst", category="Report",
                      subcategory="2. Plots") for plot in ("accuracy", "loss", "lr", "throughput")],
    conda:
        HOST_ENV
    log:
        f"{LOGS}/report.log",
    shell:
        "resnext report --config {input.config} > {log} 2>&1"
