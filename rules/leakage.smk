"""The leakage audit: fingerprints of every image (the source pool's once, shared by its targets), then each
target's duplicates in its pool, which leakage.exclude keeps out of every borrowing method."""


rule source_fingerprints:
    input:
        SOURCE_MANIFEST,
    output:
        SOURCE_FINGERPRINTS,
    log:
        "logs/fingerprints/source-{source}-{shard}.log",
    conda:
        "../envs/sjft.yaml"
    threads: 1 + config["descriptors"]["workers"]
    resources:
        mem_mb=per_attempt(1000 + 500 * config["descriptors"]["workers"]),
        runtime=per_attempt(60),
    params:
        shards=cli_options(shards=PLAN.shards("source")),
        workers=config["descriptors"]["workers"],
    shell:
        "python -m workflow fingerprints --manifest {input:q} --out {output:q} --shard {wildcards.shard}"
        " {params.shards} --workers {params.workers} 2> {log:q}"


rule target_fingerprints:
    input:
        TARGET_MANIFEST,
    output:
        TARGET_FINGERPRINTS,
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
        unpack(PLAN.leakage_inputs),
    output:
        pairs=report(
            LEAKAGE,
            caption="captions/leakage-csv.rst",
            category="{target}",
            subcategory="Leakage audit",
        ),
        summary=report(
            LEAKAGE_SUMMARY,
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
        settings=PLAN.leakage_settings(),
    shell:
        "python -m workflow leakage --train {input.train:q} --test {input.test:q} --sources {input.sources:q}"
        " --train-manifest {input.train_manifest:q} --test-manifest {input.test_manifest:q}"
        " --source-manifest {input.source_manifest:q} --out {output.pairs:q} --summary-out {output.summary:q}"
        " {params.settings} --search-threads {threads} 2> {log:q}"
