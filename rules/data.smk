"""Datasets: the embedded demo, torchvision exports and the manifests (one row per image) of targets and sources."""


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
        directory(f"{TORCHVISION_DATA}/{{dataset}}"),
    log:
        "logs/torchvision_export/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(torchvision_names()),
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(120),
    params:
        data_dir=TORCHVISION_DOWNLOADS,
        args=get_torchvision_export_args,
    shell:
        "python -m workflow torchvision-export --name {wildcards.dataset:q} --data-dir {params.data_dir:q}"
        " --out {output:q} {params.args} 2> {log:q}"


rule target_manifest:
    input:
        get_target_files,
    output:
        "results/{target}/manifest/train.csv",
        "results/{target}/manifest/test.csv",
    log:
        "logs/target_manifest/{target}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(30),
    params:
        root=get_target_root,
        splits=get_target_manifest_args,
        images=get_target_images,
    shell:
        "python -m workflow target-manifest --root {params.root:q} {params.splits}"
        " --out-dir results/{wildcards.target:q}/manifest 2> {log:q}"


rule source_manifest:
    input:
        get_source_files,
    output:
        "results/source/{source}/manifest.csv",
    log:
        "logs/source_manifest/{source}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        root=get_source_root,
        cap=get_source_cap_arg,
        images=get_source_images,
    shell:
        "python -m workflow source-manifest --root {params.root:q} --out {output:q} {params.cap} 2> {log:q}"
