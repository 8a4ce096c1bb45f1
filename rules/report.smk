"""The comparison table of a target: one row per method, seed and iteration."""


rule report:
    input:
        unpack(get_report_inputs),
    output:
        "results/{target}/report.csv",
    params:
        args=get_report_args,
    log:
        "logs/report/{target}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow report --results results/{wildcards.target} --target {wildcards.target}"
        " --target-manifest {input.train} --source-manifest {input.source} --out {output} {params.args}"
        " 2> {log} | tee -a {log}"
