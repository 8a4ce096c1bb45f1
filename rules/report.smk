"""The comparison tables of a target: per run, over seeds, and selective's paired differences."""


rule report:
    input:
        unpack(get_report_inputs),
    output:
        report="results/{target}/report.csv",
        runs="results/{target}/runs.csv",
        paired="results/{target}/paired.csv",
    log:
        "logs/report/{target}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    params:
        args=get_report_args,
    shell:
        "python -m workflow report --results results/{wildcards.target} --target {wildcards.target}"
        " --target-manifest {input.train} --source-manifest {input.source} --out {output.report} --runs-out {output.runs} --paired-out {output.paired} {params.args}"
        " 2> {log} | tee -a {log}"
