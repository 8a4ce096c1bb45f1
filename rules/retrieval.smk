"""Retrieval: the exact kNN index once, then each iteration's neighbour table."""


rule knn:
    input:
        targets=lambda wildcards: descriptor_shards(wildcards.target, "target", wildcards.bank),
        sources=lambda wildcards: descriptor_shards(wildcards.target, "source", wildcards.bank),
    output:
        "results/{target}/bank-{bank}/knn.h5",
    params:
        k=KMAX,
        eps=config["retrieval"]["eps"],
        block=config["retrieval"]["block_size"],
        divergence=config["retrieval"]["divergence"],
    threads: 2
    log:
        "logs/knn/{target}-{bank}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow --threads {threads} knn --targets {input.targets} --sources {input.sources}"
        " --out {output} --k {params.k} --eps {params.eps} --block-size {params.block}"
        " --divergence {params.divergence} 2> {log}"


rule neighbours:
    input:
        unpack(get_neighbour_inputs),
    output:
        "results/{target}/{joint_run}/seed-{seed}/iter-{iter}/neighbours.csv",
    params:
        args=get_neighbour_args,
    log:
        "logs/neighbours/{target}/{joint_run}-{seed}-{iter}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow neighbours --targets {input.targets} --out {output} {params.args} 2> {log}"
