"""The comparison tables of a target: per run, over seeds, selective's paired differences, and the paper table."""


rule report:
    input:
        unpack(get_report_inputs),
    output:
        report=report(
            "results/{target}/report.csv", caption="captions/report-csv.rst", category="{target}", subcategory="Tables"
        ),
        runs=report(
            "results/{target}/runs.csv", caption="captions/runs-csv.rst", category="{target}", subcategory="Tables"
        ),
        paired=report(
            "results/{target}/paired.csv", caption="captions/paired-csv.rst", category="{target}", subcategory="Tables"
        ),
    log:
        "logs/report/{target}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        files=get_report_files,
        settings=get_report_settings,
    shell:
        "python -m workflow report --results results/{wildcards.target:q} --target-name {wildcards.target:q}"
        " --target-manifest {input.train:q} --source-manifest {input.source:q} --leakage {input.leakage:q} --out {output.report:q} --runs-out {output.runs:q} --paired-out {output.paired:q}"
        " {params.files} {params.settings}"
        " 2> {log:q} | tee -a {log:q}"


rule paper_table:
    input:
        report="results/{target}/report.csv",
        runs="results/{target}/runs.csv",
        paired="results/{target}/paired.csv",
        test=lambda wildcards: target_manifest(wildcards.target, "test"),
    output:
        markdown=report(
            "results/{target}/table.md", caption="captions/table.rst", category="{target}", subcategory="Tables"
        ),
        latex=report(
            "results/{target}/table.tex", caption="captions/table.rst", category="{target}", subcategory="Tables"
        ),
    log:
        "logs/paper_table/{target}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        main_bank=BANKS[0],
    shell:
        "python -m workflow paper-table --report {input.report:q} --runs {input.runs:q} --paired {input.paired:q}"
        " --test-manifest {input.test:q} --target-name {wildcards.target:q} --main-bank {params.main_bank:q}"
        " --out-md {output.markdown:q} --out-tex {output.latex:q} 2> {log:q}"
