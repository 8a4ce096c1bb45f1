"""Training: the backbone on the source set, then every method's iterations, evaluation, fusion."""


rule pretrain:
    input:
        "results/source/{source}/manifest.csv",
    output:
        "results/source/{source}/pretrain/model.pt",
    params:
        arch=config["model"]["arch"],
        settings=schedule_settings("pretrain", config["pretrain"]["epochs"], seed=0),
        device=config["model"]["device"],
    threads: 8  # capped at --cores
    log:
        "logs/pretrain/{source}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow --threads {threads} pretrain --manifest {input} --out {output} --arch {params.arch}"
        " --init scratch --settings {params.settings:q} --device {params.device} 2> {log}"


rule train:
    input:
        unpack(get_train_inputs),
    output:
        model="results/{target}/{method}/seed-{seed}/iter-{iter}/model.pt",
        entropy="results/{target}/{method}/seed-{seed}/iter-{iter}/entropy.csv",
        stats="results/{target}/{method}/seed-{seed}/iter-{iter}/train.json",
    params:
        arch=config["model"]["arch"],
        args=get_train_args,
        settings=get_train_settings,
        device=config["model"]["device"],
    threads: 1  # runs of different methods go in parallel; raise with --set-threads train=N
    log:
        "logs/train/{target}-{method}-{seed}-{iter}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow --threads {threads} train --target {input.target} --out-dir $(dirname {output.model})"
        " --arch {params.arch} {params.args} --settings {params.settings:q} --device {params.device} 2> {log}"


rule evaluate:
    input:
        model="results/{target}/{method}/seed-{seed}/iter-{iter}/model.pt",
        manifest=lambda wildcards: target_manifest(wildcards.target, "test"),
    output:
        predictions="results/{target}/{method}/seed-{seed}/iter-{iter}/eval.csv",
        probs="results/{target}/{method}/seed-{seed}/iter-{iter}/probs.h5",
    params:
        size=config["model"]["input_size"],
        device=config["model"]["device"],
    threads: 1
    log:
        "logs/evaluate/{target}-{method}-{seed}-{iter}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow --threads {threads} evaluate --model {input.model} --manifest {input.manifest}"
        " --out {output.predictions} --probs-out {output.probs} --input-size {params.size}"
        " --device {params.device} 2> {log}"


rule fusion:
    input:
        probs=get_fusion_probs,
        manifest=lambda wildcards: target_manifest(wildcards.target, "test"),
    output:
        predictions="results/{target}/fusion/seed-{seed}/eval.csv",
        probs="results/{target}/fusion/seed-{seed}/probs.h5",
    log:
        "logs/fusion/{target}-{seed}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow fusion --probs {input.probs} --manifest {input.manifest}"
        " --out {output.predictions} --probs-out {output.probs} 2> {log}"
