"""Library weights (model.init imagenet, bank.cnn.model alexnet): fetched once, on the machine Snakemake runs on."""


rule weights:
    """Every library weight set the config needs (`snakemake weights`); the jobs that build them
    ask for their records themselves, so a plain run fetches them too."""
    input:
        PLAN.all_weights(),


rule fetch_weights:
    """One (arch, weights) into torchvision's or timm's own cache (workflow/weights.py), and its
    record. A local job (Snakefile): compute nodes often have no network, so the jobs that build
    these weights read the cache only, which on a cluster must be on a shared file system."""
    output:
        WEIGHTS_RECORD,
    log:
        "logs/fetch_weights/{arch}-{weights}.log",
    wildcard_constraints:
        weights="|".join(FETCHED),
    conda:
        "../envs/sjft.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(60),
    shell:
        # the one job that may reach the Hugging Face hub (the shell prefix turns it off for every job)
        "HF_HUB_OFFLINE=0 python -m workflow fetch-weights --arch {wildcards.arch:q} --weights {wildcards.weights:q}"
        " --out {output:q} 2> {log:q}"
