"""Training: the backbone on the source set, then every method's iterations (each evaluated), fusion."""


rule pretrain:
    input:
        "results/source/{source}/manifest.csv",
    output:
        model="results/source/{source}/pretrain/model.pt",
        epochs="results/source/{source}/pretrain/epochs.csv",
    log:
        "logs/pretrain/{source}.log",
    priority: 10  # most jobs wait for it: it goes first, on every core, before the scratch runs
    conda:
        "../envs/sjft.yaml"
    threads: max(8, 1 + config["pretrain"]["workers"])  # capped at --cores
    resources:
        mem_mb=per_attempt(16000 + 1000 * config["pretrain"]["workers"]),  # a worker holds its prefetched batches
        runtime=per_attempt(1440),
        gpu=TRAINING_GPUS,
    params:
        arch=config["model"]["arch"],
        settings=pretrain_settings(),
        torch_threads=loop_threads("pretrain"),
        workers=decoding_workers("pretrain"),
        device=config["model"]["device"],
        resume=cli_options(checkpoint_seconds=config["pretrain"]["checkpoint_seconds"]),
    shell:
        "python -m workflow --threads {params.torch_threads} pretrain --manifest {input:q} --out {output.model:q}"
        " --arch {params.arch:q} --init scratch --settings {params.settings:q} --workers {params.workers}"
        " --device {params.device:q} {params.resume} 2> {log:q}"


rule train:
    """One iteration of a run. Its model.pt stays at the run's last iteration (or at every
    iteration with train.keep_models: all); train_step below trains the earlier ones."""
    input:
        unpack(get_train_inputs),
    output:
        model="results/{target}/{run}/seed-{seed}/iter-{iter}/model.pt",
        entropy="results/{target}/{run}/seed-{seed}/iter-{iter}/entropy.csv",
        epochs="results/{target}/{run}/seed-{seed}/iter-{iter}/epochs.csv",
        stats="results/{target}/{run}/seed-{seed}/iter-{iter}/train.json",
        predictions="results/{target}/{run}/seed-{seed}/iter-{iter}/eval.csv",
        probs="results/{target}/{run}/seed-{seed}/iter-{iter}/probs.h5",
    log:
        "logs/train/{target}/{run}-{seed}-{iter}.log",
    wildcard_constraints:
        iter=KEPT_ITERATIONS,
    conda:
        "../envs/sjft.yaml"
    # the loop and its image-decoding workers; runs of different methods go in parallel (on a CPU
    # give the loop more with --set-threads train=N train_step=N: `use rule` copies no set-threads)
    threads: 1 + config["train"]["workers"]
    resources:
        mem_mb=per_attempt(8000 + 1000 * config["train"]["workers"]),  # a worker holds its prefetched batches
        runtime=per_attempt(720),
        gpu=TRAINING_GPUS,  # train_step too: `use rule` copies the resources
    params:
        arch=config["model"]["arch"],
        files=get_train_files,
        heads=get_train_heads,
        exclusion=get_train_exclusion,
        settings=get_train_settings,
        torch_threads=loop_threads("train"),
        workers=decoding_workers("train"),
        device=config["model"]["device"],
        resume=cli_options(checkpoint_seconds=config["train"]["checkpoint_seconds"]),
    shell:
        "python -m workflow --threads {params.torch_threads} train --target {input.target:q} --test {input.test:q}"
        ' --out-dir "$(dirname {output.model:q})"'
        " --arch {params.arch:q} {params.files} {params.heads} {params.exclusion} --settings {params.settings:q} --workers {params.workers}"
        " --device {params.device:q} {params.resume} 2> {log:q}"


# An earlier iteration: the same job, but its model.pt is deleted once the next iteration (its
# only reader) is done. A rerun that needs it again retrains it: the same file, bit for bit.
use rule train as train_step with:
    output:
        model=temp("results/{target}/{run}/seed-{seed}/iter-{iter}/model.pt"),
        entropy="results/{target}/{run}/seed-{seed}/iter-{iter}/entropy.csv",
        epochs="results/{target}/{run}/seed-{seed}/iter-{iter}/epochs.csv",
        stats="results/{target}/{run}/seed-{seed}/iter-{iter}/train.json",
        predictions="results/{target}/{run}/seed-{seed}/iter-{iter}/eval.csv",
        probs="results/{target}/{run}/seed-{seed}/iter-{iter}/probs.h5",
    wildcard_constraints:
        iter=TEMPORARY_ITERATIONS,


rule fusion:
    input:
        probs=get_fusion_probs,
        manifest=lambda wildcards: target_manifest(wildcards.target, "test"),
    output:
        predictions="results/{target}/bank-{bank}/fusion/seed-{seed}/eval.csv",
        probs="results/{target}/bank-{bank}/fusion/seed-{seed}/probs.h5",
    log:
        "logs/fusion/{target}-{bank}-{seed}.log",
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    shell:
        "python -m workflow fusion --probs {input.probs:q} --manifest {input.manifest:q}"
        " --out {output.predictions:q} --probs-out {output.probs:q} 2> {log:q}"
