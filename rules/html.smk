"""The HTML report page of a target: tables, charts and retrieved neighbours in one self-contained file."""


rule report_html:
    input:
        unpack(PLAN.html_inputs),
    output:
        report(REPORT_HTML, caption="captions/report-html.rst", category="{target}", subcategory="Page"),
    log:
        "logs/report_html/{target}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        banks=" ".join(PLAN.banks),
        args=PLAN.html_files,
        settings=PLAN.html_settings,
    shell:
        "python -m workflow report-html --target-name {wildcards.target:q} --report {input.report:q}"
        " --paired {input.paired:q} --runs {input.runs:q} --target-manifest {input.train:q}"
        " --source-manifest {input.source:q} --banks {params.banks} --knn {input.knn:q}"
        " --out {output:q} {params.args} {params.settings} 2> {log:q}"
