"""Retrieval: the exact kNN index once, then each iteration's neighbour table."""


rule knn:
    input:
        unpack(PLAN.knn_inputs),
    output:
        KNN,
    log:
        "logs/knn/{target}-{bank}.log",
    conda:
        "../envs/sjft.yaml"
    threads: config["retrieval"]["threads"]
    resources:
        mem_mb=per_attempt(config["retrieval"]["memory_mb"] + 1024),
        runtime=per_attempt(240),
    params:
        args=PLAN.knn_options,
        memory=cli_options(memory_mb=config["retrieval"]["memory_mb"]),
        exclusion=PLAN.knn_files,
    shell:
        "python -m workflow --threads {threads} knn --targets {input.targets:q} --sources {input.sources:q}"
        " --out {output:q} {params.args} {params.memory} {params.exclusion} 2> {log:q}"


rule neighbours:
    input:
        unpack(PLAN.neighbour_inputs),
    output:
        NEIGHBOURS,
    log:
        "logs/neighbours/{target}/{run}-{seed}-{iter}.log",
    wildcard_constraints:
        run=one_of(PLAN.listed_tokens),
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        files=PLAN.neighbour_files,
        settings=PLAN.neighbour_settings,
    shell:
        "python -m workflow neighbours --targets {input.targets:q} --out {output:q} {params.files} {params.settings}"
        " 2> {log:q}"
