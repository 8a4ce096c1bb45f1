"""Shared by every rule: config validation, the target/source tables and input functions."""

import json
import os
import re
import sys

from snakemake.utils import validate


validate(config, schema="../config/schema.yaml")

# The rules run `python -m workflow`; this makes the package importable without an install
# (e.g. inside the conda environment of envs/sjft.yaml), here and in every job.
sys.path.insert(0, workflow.basedir)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in [workflow.basedir, os.environ.get("PYTHONPATH", "")] if p
)

# only these names: a bare `import workflow` would hide Snakemake's own `workflow` object
from workflow.schedule import max_neighbours, resolve_sigmas

TARGETS = config["targets"]
SOURCES = config["sources"]
SELECTION = config["selection"]
ITERATIONS = SELECTION["iterations"]
SIGMA0, SIGMA1 = resolve_sigmas(SELECTION["k0"], SELECTION.get("sigma0"), SELECTION.get("sigma1"))
# the most neighbours any target image can reach: the length of every ranked list
KMAX = max_neighbours(SELECTION["k0"], ITERATIONS, SIGMA0, SIGMA1)
BANK = config["bank"]["name"]
DEMO_DATA = "results/data/demo"
# Every trained method: which source images it borrows (none, its own kNN neighbours grown by
# its own entropies, or random ones matching selective's counts), its regularizer toward the
# starting model, and whether DTNH projects the non-target gradient (workflow/regularizers.py).
METHODS = {
    "finetune": {"borrows": None, "regularizer": "none", "dtnh": False},
    "joint-random": {"borrows": "random", "regularizer": "none", "dtnh": False},
    "selective": {"borrows": "knn", "regularizer": "none", "dtnh": False},
    "selective-dtnh": {"borrows": "knn", "regularizer": "none", "dtnh": True},
    "l2sp": {"borrows": None, "regularizer": "l2sp", "dtnh": False},
    "dtnh-l2sp": {"borrows": None, "regularizer": "l2sp", "dtnh": True},
    "knowdist": {"borrows": None, "regularizer": "knowdist", "dtnh": False},
    "dtnh-knowdist": {"borrows": None, "regularizer": "knowdist", "dtnh": True},
}
TRAINED_METHODS = list(METHODS)
JOINT_METHODS = [m for m, spec in METHODS.items() if spec["borrows"]]


def check_config():
    """Cross-key checks the schema cannot express, each naming the key at fault."""
    for name, target in TARGETS.items():
        if target["source"] not in SOURCES:
            raise ValueError(
                f"config targets.{name}.source is {target['source']!r}, "
                f"not one of sources: {', '.join(SOURCES)}"
            )
        if name in ("source", "data"):
            raise ValueError(f"config targets: {name!r} is reserved for results/{name}/")
    if "fusion" in config["methods"] and "selective" not in config["methods"]:
        raise ValueError("config methods: fusion averages the selective iterations; add selective")
    if "joint-random" in config["methods"] and "selective" not in config["methods"]:
        raise ValueError("config methods: joint-random matches selective's counts; add selective")


check_config()


wildcard_constraints:
    target="|".join(re.escape(t) for t in TARGETS),
    source="|".join(re.escape(s) for s in SOURCES),
    method="|".join(TRAINED_METHODS),
    joint="|".join(JOINT_METHODS),
    seed=r"\d+",
    iter=r"\d+",
    shard=r"\d+",
    domain="target|source",


# ------------------------------------------------------------------ datasets


def source_of(target):
    return TARGETS[target]["source"]


def train_split(target):
    return TARGETS[target].get("train_split", "train")


def test_split(target):
    return TARGETS[target].get("test_split", "test")


def get_source_cap_arg(wildcards):
    cap = SOURCES[wildcards.source].get("max_per_class")
    return f"--max-per-class {cap}" if cap else ""


def get_target_files(wildcards):
    """The demo generator's output, when the target is the demo."""
    return [f"{DEMO_DATA}/target"] if TARGETS[wildcards.target]["kind"] == "demo" else []


def get_source_files(wildcards):
    return [f"{DEMO_DATA}/source"] if SOURCES[wildcards.source]["kind"] == "demo" else []


def get_target_root(wildcards):
    target = TARGETS[wildcards.target]
    return f"{DEMO_DATA}/target" if target["kind"] == "demo" else target["root"]


def get_source_root(wildcards):
    source = SOURCES[wildcards.source]
    return f"{DEMO_DATA}/source" if source["kind"] == "demo" else source["root"]


def get_relations(target):
    """The related-classes table of a target, if it has one (the demo always does)."""
    if TARGETS[target]["kind"] == "demo":
        return f"{DEMO_DATA}/relations.csv"
    return TARGETS[target].get("relations")


def target_manifest(target, split):
    return f"results/{target}/manifest/{split}.csv"


def source_manifest(target):
    return f"results/source/{source_of(target)}/manifest.csv"


# ------------------------------------------------------------------ descriptors and retrieval


def get_descriptor_manifest(wildcards):
    if wildcards.domain == "target":
        return target_manifest(wildcards.target, "train")
    return source_manifest(wildcards.target)


def n_shards(domain):
    return config["descriptors"]["source_shards"] if domain == "source" else 1


def descriptor_shards(target, domain):
    return expand(
        "results/{target}/bank-{bank}/hist/{domain}/shard-{shard}.h5",
        target=target,
        bank=BANK,
        domain=domain,
        shard=range(n_shards(domain)),
    )


def knn_index(target):
    return f"results/{target}/bank-{BANK}/knn.h5"


# ------------------------------------------------------------------ training runs


def run_dir(target, method, seed, iteration):
    return f"results/{target}/{method}/seed-{seed}/iter-{iteration}"


def get_neighbour_inputs(wildcards):
    """kNN borrowers: the index (+ their previous entropy table); joint-random: selective's table."""
    inputs = {"targets": target_manifest(wildcards.target, "train")}
    iteration = int(wildcards.iter)
    if METHODS[wildcards.joint]["borrows"] == "knn":
        inputs["knn"] = knn_index(wildcards.target)
        if iteration > 0:
            previous = run_dir(wildcards.target, wildcards.joint, wildcards.seed, iteration - 1)
            inputs["entropy"] = f"{previous}/entropy.csv"
    else:
        inputs["pool"] = source_manifest(wildcards.target)
        selective = run_dir(wildcards.target, "selective", wildcards.seed, iteration)
        inputs["match"] = f"{selective}/neighbours.csv"
    return inputs


def get_neighbour_args(wildcards, input):
    if METHODS[wildcards.joint]["borrows"] == "knn":
        args = f"--knn {input.knn} "
        if "entropy" in input.keys():
            args += f"--entropy {input.entropy} --delta {SELECTION['delta']} --sigma0 {SIGMA0} --sigma1 {SIGMA1}"
        else:
            args += f"--k0 {SELECTION['k0']}"
        return args
    return f"--random-pool {input.pool} --length {KMAX} --seed {wildcards.seed} --match {input.match}"


def pretrained_checkpoint(target):
    init = config["model"]["init"]
    if init == "pretrain":
        return f"results/source/{source_of(target)}/pretrain/model.pt"
    if init in ("torchvision", "scratch"):
        return None
    return init


def get_train_inputs(wildcards):
    """Manifests, the neighbour table of joint methods, and the weights to start from."""
    inputs = {"target": target_manifest(wildcards.target, "train")}
    if wildcards.method in JOINT_METHODS:
        inputs["source"] = source_manifest(wildcards.target)
        inputs["neighbours"] = f"{run_dir(wildcards.target, wildcards.method, wildcards.seed, wildcards.iter)}/neighbours.csv"
    iteration = int(wildcards.iter)
    if iteration > 0:
        inputs["init"] = f"{run_dir(wildcards.target, wildcards.method, wildcards.seed, iteration - 1)}/model.pt"
    elif pretrained_checkpoint(wildcards.target):
        inputs["init"] = pretrained_checkpoint(wildcards.target)
    if METHODS[wildcards.method]["regularizer"] != "none" and pretrained_checkpoint(wildcards.target):
        inputs["anchor"] = pretrained_checkpoint(wildcards.target)
    return inputs


def get_train_args(wildcards, input):
    init = input.init if "init" in input.keys() else config["model"]["init"]
    args = f"--init {init}"
    if "neighbours" in input.keys():
        args += f" --source {input.source} --neighbours {input.neighbours}"
    if int(wildcards.iter) > 0:
        args += " --keep-heads target source"
    elif config["train"]["source_head"] == "pretrained":
        args += " --keep-heads source"
    if METHODS[wildcards.method]["regularizer"] != "none":
        args += f" --anchor {input.anchor if 'anchor' in input.keys() else config['model']['init']}"
    return args


def schedule_settings(section, epochs, seed):
    """The JSON --settings of a training command, from a config section (train or pretrain)."""
    keys = ["batch_size", "lr", "head_lr_mult", "lr_step", "momentum", "weight_decay", "flip", "crop_padding",
            "freeze_bn", "workers"]
    if section == "train":
        keys.append("source_weight")
    settings = {k: config[section][k] for k in keys if k in config[section]}
    settings.update(epochs=epochs, seed=seed, input_size=config["model"]["input_size"])
    return json.dumps(settings, sort_keys=True)


def get_train_settings(wildcards):
    # every iteration draws its own pairs and crops: seed and iteration both feed the seed
    seed = int(wildcards.seed) * 1000 + int(wildcards.iter)
    settings = json.loads(schedule_settings("train", config["train"]["epochs_per_iteration"], seed))
    spec = METHODS[wildcards.method]
    settings.update(regularizer=spec["regularizer"], dtnh=spec["dtnh"])
    if spec["regularizer"] != "none":
        settings.update(config["regularization"][spec["regularizer"]])
    return json.dumps(settings, sort_keys=True)


def get_fusion_probs(wildcards):
    return [f"{run_dir(wildcards.target, 'selective', wildcards.seed, m)}/probs.h5" for m in range(ITERATIONS)]


# ------------------------------------------------------------------ report


def get_report_inputs(wildcards):
    t = wildcards.target
    inputs = {"train": target_manifest(t, "train"), "source": source_manifest(t), "runs": []}
    for method in config["methods"]:
        for seed in config["seeds"]:
            if method == "fusion":
                inputs["runs"].append(f"results/{t}/fusion/seed-{seed}/eval.csv")
                continue
            for m in range(ITERATIONS):
                run = run_dir(t, method, seed, m)
                inputs["runs"] += [f"{run}/eval.csv", f"{run}/train.json"]
    if get_relations(t):
        inputs["relations"] = get_relations(t)
    return inputs


def get_report_args(wildcards, input):
    relations = f" --relations {input.relations}" if "relations" in input.keys() else ""
    methods = " ".join(config["methods"])
    seeds = " ".join(str(s) for s in config["seeds"])
    return f"--methods {methods} --seeds {seeds} --iterations {ITERATIONS}{relations}"


def get_final_outputs():
    return [f"results/{t}/report.csv" for t in TARGETS]
