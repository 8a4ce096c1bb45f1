"""Low-level image descriptors: equal-mass bins on the target, then histograms per shard."""


rule bounds:
    input:
        unpack(get_bank_inputs),
    output:
        "results/{target}/bank-{bank}/bounds.h5",
    params:
        bank=get_bank_settings,
        bins=config["bank"]["bins"],
        intervals=config["bank"]["intervals"],
        size=config["bank"]["image_size"],
        batch=config["descriptors"]["batch_size"],
        workers=config["descriptors"]["workers"],
    threads: 1 + config["descriptors"]["workers"]
    log:
        "logs/bounds/{target}-{bank}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow --threads {threads} bounds --manifest {input.manifest} --out {output}"
        " --bank {wildcards.bank} --bank-settings {params.bank:q} --bins {params.bins}"
        " --intervals {params.intervals} --image-size {params.size} --batch-size {params.batch} --workers {params.workers} 2> {log}"


rule descriptors:
    input:
        manifest=get_descriptor_manifest,
        bounds="results/{target}/bank-{bank}/bounds.h5",
    output:
        "results/{target}/bank-{bank}/hist/{domain}/shard-{shard}.h5",
    params:
        shards=lambda wildcards: n_shards(wildcards.domain),
        batch=config["descriptors"]["batch_size"],
        workers=config["descriptors"]["workers"],
    threads: 1 + config["descriptors"]["workers"]
    log:
        "logs/descriptors/{target}-{bank}-{domain}-{shard}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow --threads {threads} descriptors --manifest {input.manifest} --bounds {input.bounds}"
        " --out {output} --shard {wildcards.shard} --shards {params.shards} --batch-size {params.batch}"
        " --workers {params.workers} 2> {log}"
