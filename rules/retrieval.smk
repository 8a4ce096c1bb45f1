"""Retrieval: the exact kNN index once, then each iteration's neighbour table."""


rule knn:
    input:
        targets=lambda wildcards: descriptor_shards(wildcards.target, "target", wildcards.bank),
        sources=lambda wildcards: descriptor_shards(wildcards.target, "source", wildcards.bank),
        exclusion=lambda wildcards: get_exclusion_input(wildcards.target).values(),
    output:
        "results/{target}/bank-{bank}/knn.h5",
    log:
        "logs/knn/{target}-{bank}.log",
    conda:
        "../envs/sjft.yaml"
    threads: config["retrieval"]["threads"]
    resources:
        mem_mb=per_attempt(config["retrieval"]["memory_mb"] + 1024),
        runtime=per_attempt(240),
    params:
        args=get_knn_args,
        memory=cli_options(memory_mb=config["retrieval"]["memory_mb"]),
        exclusion=lambda wildcards, input: cli_options(exclude=input.exclusion[0]) if input.exclusion else "",
    shell:
        "python -m workflow --threads {threads} knn --targets {input.targets:q} --sources {input.sources:q}"
        " --out {output:q} {params.args} {params.memory} {params.exclusion} 2> {log:q}"


rule neighbours:
    input:
        unpack(get_neighbour_inputs),
    output:
        "results/{target}/{joint_run}/seed-{seed}/iter-{iter}/neighbours.csv",
    log:
        "logs/neighbours/{target}/{joint_run}-{seed}-{iter}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    params:
        files=get_neighbour_files,
        settings=get_neighbour_settings,
    shell:
        "python -m workflow neighbours --targets {input.targets:q} --out {output:q} {params.files} {params.settings}"
        " 2> {log:q}"
