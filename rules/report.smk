"""The comparison tables of a target: per run, over seeds, selective's paired differences, and the paper table."""


rule report:
    input:
        unpack(PLAN.report_inputs),
    output:
        report=report(REPORT, caption="captions/report-csv.rst", category="{target}", subcategory="Tables"),
        runs=report(RUNS, caption="captions/runs-csv.rst", category="{target}", subcategory="Tables"),
        paired=report(PAIRED, caption="captions/paired-csv.rst", category="{target}", subcategory="Tables"),
    log:
        "logs/report/{target}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        files=PLAN.report_files,
        settings=PLAN.report_settings,
    shell:
        "python -m workflow report --target-name {wildcards.target:q}"
        " --target-manifest {input.train:q} --source-manifest {input.source:q} --leakage {input.leakage:q} --out {output.report:q} --runs-out {output.runs:q} --paired-out {output.paired:q}"
        " {params.files} {params.settings}"
        " 2> {log:q} | tee -a {log:q}"


rule paper_table:
    input:
        report=REPORT,
        runs=RUNS,
        paired=PAIRED,
        test=fill(TARGET_MANIFEST, split="test"),
    output:
        markdown=report(TABLE_MD, caption="captions/table.rst", category="{target}", subcategory="Tables"),
        latex=report(TABLE_TEX, caption="captions/table.rst", category="{target}", subcategory="Tables"),
    log:
        "logs/paper_table/{target}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        main_bank=PLAN.banks[0],
    shell:
        "python -m workflow paper-table --report {input.report:q} --runs {input.runs:q} --paired {input.paired:q}"
        " --test-manifest {input.test:q} --target-name {wildcards.target:q} --main-bank {params.main_bank:q}"
        " --out-md {output.markdown:q} --out-tex {output.latex:q} 2> {log:q}"
