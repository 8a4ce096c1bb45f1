"""Training: the backbone on the source set, then every method's iterations (each evaluated), fusion."""


rule pretrain:
    input:
        SOURCE_MANIFEST,
    output:
        model=PRETRAINED,
        epochs=PRETRAIN_EPOCHS,
    log:
        "logs/pretrain/{source}.log",
    priority: 10  # most jobs wait for it: it goes first, on every core, before the scratch runs
    conda:
        "../envs/sjft.yaml"
    threads: max(8, 1 + config["pretrain"]["workers"])  # capped at --cores
    resources:
        mem_mb=per_attempt(16000 + 1000 * config["pretrain"]["workers"]),  # a worker holds its prefetched batches
        runtime=per_attempt(1440),
        gpu=PLAN.training_gpus,
    params:
        arch=config["model"]["arch"],
        settings=PLAN.pretrain_settings(),
        torch_threads=PLAN.loop_threads("pretrain"),
        workers=PLAN.decoding_workers("pretrain"),
        device=config["model"]["device"],
        resume=PLAN.resume_options("pretrain"),
    shell:
        "python -m workflow --threads {params.torch_threads} pretrain --manifest {input:q} --out {output.model:q}"
        " --arch {params.arch:q} --init scratch --settings {params.settings:q} --workers {params.workers}"
        " --device {params.device:q} {params.resume} 2> {log:q}"


rule train:
    """One iteration of a run. Its model.pt stays at the run's last iteration (or at every
    iteration with train.keep_models: all); train_step below trains the earlier ones."""
    input:
        unpack(PLAN.train_inputs),
    output:
        **RUN_OUTPUTS,
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
        gpu=PLAN.training_gpus,  # train_step too: `use rule` copies the resources
    params:
        arch=config["model"]["arch"],
        files=PLAN.train_files,
        heads=PLAN.train_heads,
        exclusion=PLAN.train_exclusion,
        settings=PLAN.train_settings,
        torch_threads=PLAN.loop_threads("train"),
        workers=PLAN.decoding_workers("train"),
        device=config["model"]["device"],
        resume=PLAN.resume_options("train"),
    shell:
        "python -m workflow --threads {params.torch_threads} train --target {input.target:q} --test {input.test:q}"
        ' --out-dir "$(dirname {output.model:q})"'
        " --arch {params.arch:q} {params.files} {params.heads} {params.exclusion} --settings {params.settings:q} --workers {params.workers}"
        " --device {params.device:q} {params.resume} 2> {log:q}"


# An earlier iteration: the same job, but its model.pt is deleted once the next iteration (its
# only reader) is done. A rerun that needs it again retrains it: the same file, bit for bit.
use rule train as train_step with:
    output:
        **RUN_OUTPUTS | {"model": temp(RUN_OUTPUTS["model"])},
    wildcard_constraints:
        iter=TEMPORARY_ITERATIONS,


rule fusion:
    input:
        probs=PLAN.fusion_probs,
        manifest=fill(TARGET_MANIFEST, split="test"),
    output:
        **FUSION_OUTPUTS,
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
