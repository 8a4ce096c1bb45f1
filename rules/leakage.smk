"""The leakage audit: fingerprints of every image (the source pool's once, shared by its targets), then each
target's duplicates in its pool, which leakage.exclude keeps out of every borrowing method."""


rule source_fingerprints:
    input:
        "results/source/{source}/manifest.csv",
    output:
        "results/source/{source}/fingerprints/shard-{shard}.h5",
    log:
        "logs/fingerprints/source-{source}-{shard}.log",
    conda:
        "../envs/sjft.yaml"
    threads: 1 + config["descriptors"]["workers"]
    resources:
        mem_mb=per_attempt(1000 + 500 * config["descriptors"]["workers"]),
        runtime=per_attempt(60),
    params:
        shards=cli_options(shards=n_shards("source")),
        workers=config["descriptors"]["workers"],
    shell:
        "python -m workflow fingerprints --manifest {input:q} --out {output:q} --shard {wildcards.shard}"
        " {params.shards} --workers {params.workers} 2> {log:q}"


rule target_fingerprints:
    input:
        "results/{target}/manifest/{split}.csv",
    output:
        "results/{target}/fingerprints/{split}.h5",
    log:
        "logs/fingerprints/{target}-{split}.log",
    wildcard_constraints:
        split="train|test",
    conda:
        "../envs/sjft.yaml"
    threads: 1 + config["descriptors"]["workers"]
    resources:
        mem_mb=per_attempt(1000 + 500 * config["descriptors"]["workers"]),
        runtime=per_attempt(60),
    params:
        workers=config["descriptors"]["workers"],
    shell:
        "python -m workflow fingerprints --manifest {input:q} --out {output:q} --workers {params.workers} 2> {log:q}"


rule leakage:
    input:
        train="results/{target}/fingerprints/train.h5",
        test="results/{target}/fingerprints/test.h5",
        sources=lambda wildcards: source_fingerprints(source_of(wildcards.target)),
        train_manifest=lambda wildcards: target_manifest(wildcards.target, "train"),
        test_manifest=lambda wildcards: target_manifest(wildcards.target, "test"),
        source_manifest=lambda wildcards: source_manifest(wildcards.target),
    output:
        pairs=report(
            "results/{target}/leakage.csv",
            caption="captions/leakage-csv.rst",
            category="{target}",
            subcategory="Leakage audit",
        ),
        summary=report(
            "results/{target}/leakage-summary.csv",
            caption="captions/leakage-csv.rst",
            category="{target}",
            subcategory="Leakage audit",
        ),
    log:
        "logs/leakage/{target}.log",
    conda:
        "../envs/sjft.yaml"
    threads: config["retrieval"]["threads"]
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        settings=cli_options(threshold=config["leakage"]["threshold"], flips=config["leakage"]["flips"]),
    shell:
        "python -m workflow leakage --train {input.train:q} --test {input.test:q} --sources {input.sources:q}"
        " --train-manifest {input.train_manifest:q} --test-manifest {input.test_manifest:q}"
        " --source-manifest {input.source_manifest:q} --out {output.pairs:q} --summary-out {output.summary:q}"
        " {params.settings} --search-threads {threads} 2> {log:q}"
