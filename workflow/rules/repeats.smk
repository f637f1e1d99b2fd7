# `snakemake repeats`: the run-to-run noise floor. The same config is trained once per seed of
# repeat_seeds, as the runs <run_name>-s<seed>, through this very workflow: one Snakemake module
# per seed (its rules prefixed repeat_s<seed>_), whose config is this one with run_name, seed and
# repeat_of set (repeat_config) and data_url at this run's data, so every repeat trains and
# evaluates on the same images. Then `resnext compare` of each pair (repeat_compare) and
# `resnext repeats` (resnext.compare.repeats.summarize) -> <run_name>-repeats/summary.{md,json,csv}.
# Never part of `all`; a repeat run (repeat_of set) declares no repeats of its own. Helpers:
# rules/common.smk (repeat_config, repeats_inputs, ...).
if not CFG.repeat_of:
    for repeat_seed in CFG.repeat_seeds if len(CFG.repeat_seeds) >= 2 else []:
        repeat_module = "repeat_s%d" % repeat_seed
        repeat_prefix = "repeat_s%d_" % repeat_seed

        module:
            name: repeat_module
            snakefile:
                "../Snakefile"
            config:
                repeat_config(repeat_seed)

        use rule * from repeat_module exclude all as repeat_prefix*

    rule repeat_compare:
        input:
            a=lambda wc: repeat_audit(wc.a),
            b=lambda wc: repeat_audit(wc.b),
        output:
            **{
                name: paths.compare_file(paths.pair_compare_dir(REPEATS, "{a}", "{b}"), name)
                for name in ("json", "md", "html")
            },
        log:
            paths.rule_log(REPEATS, "compare-s{a}-s{b}"),
        wildcard_constraints:
            a=r"\d+",
            b=r"\d+",
        conda:
            HOST_ENV
        params:
            a=lambda wc: REPEAT_RUNS[int(wc.a)],
            b=lambda wc: REPEAT_RUNS[int(wc.b)],
            out=lambda wc, output: os.path.dirname(output.json),
        shell:
            "resnext compare {params.a:q} {params.b:q} --out {params.out:q} > {log:q} 2>&1"

    rule repeats_summary:
        input:
            unpack(repeats_inputs),
        output:
            md=paths.summary_file(REPEATS, "md"),
            json=paths.summary_file(REPEATS, "json"),
            csv=paths.summary_file(REPEATS, "csv"),
        log:
            paths.rule_log(REPEATS, "summary"),
        conda:
            HOST_ENV
        params:
            runs=lambda wc, input: [repeat_of_audit(p) for p in input.audits],
            compares=lambda wc, input: [os.path.dirname(p) for p in input.compares],
            out=lambda wc, output: os.path.dirname(output.md),
        shell:
            "resnext repeats --out {params.out:q} --runs {params.runs:q}"
            " --compares {params.compares:q} > {log:q} 2>&1"

    localrules:
        repeats,

    rule repeats:
        input:
            rules.repeats_summary.output,
