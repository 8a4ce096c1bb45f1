"""Low-level image descriptors: equal-mass bins on the target per bank, then one job per shard that
decodes each image once and writes the histograms of every bank."""


rule bounds:
    input:
        unpack(PLAN.bank_inputs),
    output:
        BOUNDS,
    log:
        "logs/bounds/{target}-{bank}.log",
    conda:
        "../envs/sjft.yaml"
    threads: 1 + config["descriptors"]["workers"]
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        args=PLAN.bounds_options,
        run=PLAN.decoding_options(),
    shell:
        "python -m workflow --threads {threads} bounds --manifest {input.manifest:q} --out {output:q}"
        " {params.args} {params.run} 2> {log:q}"


rule descriptors:
    input:
        manifest=PLAN.descriptor_manifest,
        bounds=PLAN.every_bank(BOUNDS),
    output:
        PLAN.every_bank(SHARD),
    log:
        "logs/descriptors/{target}-{domain}-{shard}.log",
    conda:
        "../envs/sjft.yaml"
    threads: 1 + config["descriptors"]["workers"]
    resources:
        mem_mb=per_attempt(2000 + 1000 * config["descriptors"]["workers"]),
        runtime=per_attempt(120),
    params:
        shards=PLAN.shards_option,
        run=PLAN.decoding_options(),
    shell:
        "python -m workflow --threads {threads} descriptors --manifest {input.manifest:q} --bounds {input.bounds:q}"
        " --out {output:q} --shard {wildcards.shard} {params.shards} {params.run} 2> {log:q}"
