"""Datasets: the embedded demo, torchvision exports, exports of datasets with official lists (Stanford Dogs,
MIT Indoor 67, Places) and the manifests (one row per image) of targets and sources."""


rule demo_data:
    output:
        source=directory(f"{DEMO_DATA}/source"),
        target=directory(f"{DEMO_DATA}/target"),
        relations=f"{DEMO_DATA}/relations.csv",
    log:
        "logs/demo_data.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        out=lambda wildcards, output: os.path.dirname(output.relations),
        settings=json.dumps(config.get("demo", {}), sort_keys=True),
    shell:
        "python -m workflow demo-data --out {params.out:q} --settings {params.settings:q} 2> {log:q}"


rule torchvision_export:
    """Download a torchvision dataset by name (the one path that downloads data) and export it."""
    output:
        directory(f"{TORCHVISION_DATA}/{{export}}"),
    log:
        "logs/torchvision_export/{export}.log",
    wildcard_constraints:
        export=one_of(PLAN.torchvision_exports),
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(120),
    params:
        data_dir=config.get("data_dir", "data/torchvision"),  # where the download goes
        args=PLAN.torchvision_export_options,
    shell:
        "python -m workflow torchvision-export {params.args} --data-dir {params.data_dir:q}"
        " --out {output:q} 2> {log:q}"


rule stanford_dogs_export:
    """Stanford Dogs from its download folder: the official train/test lists, the images linked."""
    input:
        unpack(PLAN.stanford_dogs_lists),
    output:
        directory(STANFORD_DOGS_DATA),
    log:
        "logs/stanford_dogs_export.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
    params:
        root=PLAN.export_root(STANFORD_DOGS_DATA),
    shell:
        "python -m workflow stanford-dogs-export --root {params.root:q} --train-list {input.train:q}"
        " --test-list {input.test:q} --out {output:q} 2> {log:q}"


rule mit_indoor67_export:
    """MIT Indoor 67 from its download folder: the official TrainImages/TestImages lists, the images linked."""
    input:
        unpack(PLAN.mit_indoor67_lists),
    output:
        directory(MIT_INDOOR67_DATA),
    log:
        "logs/mit_indoor67_export.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
    params:
        root=PLAN.export_root(MIT_INDOOR67_DATA),
    shell:
        "python -m workflow mit-indoor67-export --root {params.root:q} --train-list {input.train:q}"
        " --test-list {input.test:q} --out {output:q} 2> {log:q}"


rule places_export:
    """A Places205/365 train set from its official list, the images linked (1.8-2.4M links: streamed)."""
    input:
        PLAN.places_list,
    output:
        directory(f"{PLACES_DATA}/{{places}}"),
    log:
        "logs/places_export/{places}.log",
    wildcard_constraints:
        places=one_of(PLAN.places_exports()),
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(240),
    params:
        root=PLAN.places_root,
    shell:
        "python -m workflow places-export --root {params.root:q} --list-file {input:q} --out {output:q} 2> {log:q}"


rule target_manifest:
    input:
        unpack(PLAN.target_manifest_inputs),
    output:
        TARGET_MANIFEST,
    log:
        "logs/target_manifest/{target}-{split}.log",
    wildcard_constraints:
        split="train|test",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
    params:
        root=PLAN.target_root,
        splits=PLAN.target_manifest_options,
        images=PLAN.target_images,
    shell:
        "python -m workflow target-manifest --root {params.root:q} {params.splits} --only {wildcards.split}"
        " --out-dir results/{wildcards.target:q}/manifest 2> {log:q}"


rule source_manifest:
    input:
        PLAN.source_files,
    output:
        SOURCE_MANIFEST,
    log:
        "logs/source_manifest/{source}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        root=PLAN.source_root,
        cap=PLAN.source_cap,
        images=PLAN.source_images,
    shell:
        "python -m workflow source-manifest --root {params.root:q} --out {output:q} {params.cap} 2> {log:q}"
