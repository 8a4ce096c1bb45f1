"""Shared by every rule: config validation, the target/source tables, input functions and the path layout.

The facts they read live in one table each: the methods in workflow/methods.py, the filter banks
in workflow/banks.py, the dataset kinds in workflow/kinds.py.
"""

import functools
import json
import os
import re
import shlex
import sys

from snakemake.utils import validate

# The rules run `python -m workflow`; this makes the package importable without an install
# (e.g. inside the conda environment of envs/sjft.yaml), here and in every job's shell, which
# keeps Snakemake's own prefix (bash strict mode).
sys.path.insert(0, workflow.basedir)

from workflow.configcheck import schema_problem

# the first violation in one line naming the key; then Snakemake's validation fills in the defaults
problem = schema_problem(config, os.path.join(workflow.basedir, "config", "schema.yaml"))
if problem:
    raise ValueError(problem)
validate(config, schema="../config/schema.yaml")

# HDF5's file locks fail on many network file systems (NFS, Lustre) and no HDF5 file here is
# written by two processes, so jobs run without them unless HDF5_USE_FILE_LOCKING says otherwise.
# (the prefix is formatted like a shell command, hence the doubled braces)
shell.prefix(
    "set -euo pipefail; "
    f"export PYTHONPATH={shlex.quote(workflow.basedir)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
    "export HDF5_USE_FILE_LOCKING=${{HDF5_USE_FILE_LOCKING:-FALSE}}; "
    # library weights come from the library's cache only, filled by the local rule fetch_weights
    # (rules/weights.smk, workflow/weights.py): compute nodes often have no network
    "export SJFT_OFFLINE_WEIGHTS=1 HF_HUB_OFFLINE=1; "
)

# only these names: a bare `import workflow` would hide Snakemake's own `workflow` object
from workflow.backbones import LIBRARY_WEIGHTS  # model.init values that are not files
from workflow.banks import check_banks, lookup as bank_spec
from workflow.datasets import folder_fingerprint
from workflow.kinds import DEMO_DATA, TORCHVISION, TORCHVISION_DATA, check_kinds, torchvision_folder
from workflow.kinds import MIT_INDOOR67_DATA, PLACES_DATA, STANFORD_DOGS_DATA
from workflow.official import mit_indoor67_lists, stanford_dogs_lists
from workflow.kinds import images_folder, made_folders, relations, user_root, lookup as kind_spec
from workflow.leakage import EXCLUDED_SPLITS as LEAKAGE_EXCLUSIONS
from workflow.layout import run_folder, split_token as parse_run  # parse_run: (method, bank or "") of a run folder
from workflow.layout import run_token as layout_token
from workflow.methods import FUSION, METHODS, PER_BANK, SELECTIVE, check_methods, lookup as method_spec, uses_bank
from workflow.plan import head_options, pretraining_settings, training_settings
from workflow.schedule import max_neighbours, resolve_sigmas
from workflow.stopping import forward_interrupts
from workflow.weights import FETCHED, RECORD as WEIGHTS_RECORD, record_of as weights_record_of

# Ctrl-C, or SIGINT to Snakemake alone, reaches the running jobs: training saves its state and
# stops, and the rerun continues it (Snakemake's local executor would wait for the jobs to end).
forward_interrupts()

TARGETS = config["targets"]
SOURCES = config["sources"]
SELECTION = config["selection"]
ITERATIONS = SELECTION["iterations"]


def k0_of(target):
    """A target's K0: its own `k0` (the paper's differs per target), else selection.k0."""
    return TARGETS[target].get("k0", SELECTION["k0"])


def sigmas_of(target):
    """A target's K increments: selection.sigma0/sigma1, or the paper's 4 K0 and 2 K0 of its K0."""
    return resolve_sigmas(k0_of(target), SELECTION.get("sigma0"), SELECTION.get("sigma1"))


def kmax_of(target):
    """The most neighbours any image of the target can reach: the length of its ranked lists."""
    return max_neighbours(k0_of(target), ITERATIONS, *sigmas_of(target))


BANKS = config["bank"]["names"]  # the first is the main one: see PER_BANK (workflow/methods.py)
# the iterations whose model.pt stays (rule train) and those whose model.pt goes once read (train_step)
if config["train"]["keep_models"] == "all":
    KEPT_ITERATIONS, TEMPORARY_ITERATIONS = r"\d+", "(?!)"  # (?!) matches nothing
else:
    KEPT_ITERATIONS = str(ITERATIONS - 1)
    TEMPORARY_ITERATIONS = "|".join(map(str, range(ITERATIONS - 1))) or "(?!)"


def run_token(name, bank=None):
    """The run folder below results/<target>/ (workflow/layout.py): under its bank (the main one
    unless named) for the methods that use one."""
    return layout_token(name, (bank or BANKS[0]) if uses_bank(name) else None)


# the run folders of the trained methods (rules train, train_step) and of those with neighbour tables
RUN_TOKENS = [run_token(m, b) for m in METHODS for b in (BANKS if uses_bank(m) else [None])]
JOINT_TOKENS = [t for t in RUN_TOKENS if method_spec(parse_run(t)[0]).borrows in ("knn", "random")]


def check_config():
    """Cross-key checks the schema cannot express, each naming the key at fault."""
    for name, target in TARGETS.items():
        if target["source"] not in SOURCES:
            raise ValueError(
                f"config targets.{name}.source is {target['source']!r}, not one of sources: {', '.join(SOURCES)}"
            )
        if name in ("source", "data"):
            raise ValueError(f"config targets: {name!r} is reserved for results/{name}/")
    size = config["model"]["input_size"]
    for section in ("pretrain", "train"):
        scale = config[section]["scale_sizes"]
        if config[section]["augmentation"] == "scale" and not (scale and size <= scale[0] <= scale[1]):
            raise ValueError(
                f"config {section}.scale_sizes is {scale}: augmentation scale needs [shortest, longest] "
                f"with model.input_size {size} <= shortest <= longest"
            )
    if (config["train"]["test_resize"] or size) < size:
        raise ValueError(f"config train.test_resize is {config['train']['test_resize']}, below model.input_size {size}")
    check_kinds(config)
    check_methods(config["methods"])
    check_banks(config)


check_config()


wildcard_constraints:
    target="|".join(re.escape(t) for t in TARGETS),
    source="|".join(re.escape(s) for s in SOURCES),
    run="|".join(re.escape(t) for t in RUN_TOKENS),
    joint_run="|".join(re.escape(t) for t in JOINT_TOKENS),
    bank="|".join(re.escape(b) for b in BANKS),
    seed=r"\d+",
    iter=r"\d+",
    shard=r"\d+",
    domain="target|source",


# ------------------------------------------------------------------ datasets

# torchvision targets: downloaded into config data_dir, exported to TORCHVISION_DATA (workflow/kinds.py)
TORCHVISION_DOWNLOADS = config.get("data_dir", "data/torchvision")


def source_of(target):
    return TARGETS[target]["source"]


def train_split(target):
    return TARGETS[target].get("train_split", kind_spec(TARGETS[target]["kind"]).train_split(TARGETS[target]))


def test_split(target):
    return TARGETS[target].get("test_split", "test")


def get_source_cap_arg(wildcards):
    cap = SOURCES[wildcards.source].get("max_per_class")
    return f"--max-per-class {cap}" if cap else ""


def carves_validation(target):
    """Whether a target's test split is carved out of its train split (holdout_folds, holdout_per_class)."""
    entry = TARGETS[target]
    return bool(entry.get("holdout_folds") or entry.get("holdout_per_class"))


def get_target_manifest_inputs(wildcards):
    """The target's images when a rule makes them (the demo generator, the torchvision export);
    the test split's job also reads train.csv, whose classes number it."""
    inputs = {"images": made_folders("target", TARGETS[wildcards.target])}
    if wildcards.split == "test" and not carves_validation(wildcards.target):
        inputs["train_manifest"] = target_manifest(wildcards.target, "train")
    return inputs


def get_target_manifest_args(wildcards):
    """The splits of a target, or the carve of its validation split out of the train split; the
    test job's train manifest."""
    target = TARGETS[wildcards.target]
    args = cli_options(train_split=train_split(wildcards.target), test_split=test_split(wildcards.target))
    if wildcards.split == "test" and not carves_validation(wildcards.target):
        args += f" {cli_options(train_manifest=target_manifest(wildcards.target, 'train'))}"
    seed = f" --holdout-seed {target.get('holdout_seed', 0)}"
    if target.get("holdout_folds"):
        args += f" --holdout-folds {target['holdout_folds']} --holdout-fold {target.get('holdout_fold', 0)}{seed}"
    elif target.get("holdout_per_class"):
        args += f" --holdout-per-class {target['holdout_per_class']}{seed}"
    return args


# the export folders of the torchvision targets (workflow/kinds.py: the dataset, and its carve if set)
TORCHVISION_EXPORTS = {torchvision_folder(t): t for t in TARGETS.values() if t["kind"] == TORCHVISION}


def get_torchvision_export_args(wildcards):
    """The dataset of an export folder, and its carve when it has no official splits."""
    target = TORCHVISION_EXPORTS[wildcards.export]
    args = f"--name {shlex.quote(target['name'])} --split-seed {target.get('split_seed', 0)}"
    if "train_per_class" in target:
        args += f" --train-per-class {target['train_per_class']}"
    return args


# datasets with official lists (workflow/official.py): one export per folder, each made from the
# download folder (`root`) of the entries that use it (check_exports: they agree), its lists tracked as inputs


def exported_entry(folder):
    """The config entry (target or source) whose images the export ``folder`` holds."""
    for domain, entries in (("target", TARGETS), ("source", SOURCES)):
        for entry in entries.values():
            if made_folders(domain, entry) == [folder]:
                return entry
    raise ValueError(f"no entry of config targets or sources is exported to {folder}")


def get_export_root(folder):
    return lambda wildcards: exported_entry(folder)["root"]


def get_stanford_dogs_lists(wildcards):
    """train_list.mat and test_list.mat: in the root's lists/ folder, or straight in the root."""
    train, test = stanford_dogs_lists(exported_entry(STANFORD_DOGS_DATA)["root"])
    return {"train": str(train), "test": str(test)}


def get_mit_indoor67_lists(wildcards):
    train, test = mit_indoor67_lists(exported_entry(MIT_INDOOR67_DATA)["root"])
    return {"train": str(train), "test": str(test)}


def places_exports():
    """The folder names below PLACES_DATA of the Places sources (their lists' names)."""
    folders = [made_folders("source", s)[0] for s in SOURCES.values() if s["kind"] == "places"]
    return [os.path.basename(folder) for folder in folders]


def get_places_list(wildcards):
    return exported_entry(f"{PLACES_DATA}/{wildcards.places}")["list"]


def get_places_root(wildcards):
    return exported_entry(f"{PLACES_DATA}/{wildcards.places}")["root"]


def get_source_files(wildcards):
    return made_folders("source", SOURCES[wildcards.source])


def get_target_root(wildcards):
    return images_folder("target", TARGETS[wildcards.target])


def get_source_root(wildcards):
    return images_folder("source", SOURCES[wildcards.source])


# A user's image folders are not outputs of a rule, so their changes reach the manifests as a
# parameter: a digest of every image's path, size and modification time (rewritten, added or
# removed images rerun the manifest and what depends on it). The folders a rule makes (workflow/kinds.py)
# are tracked as inputs.
images_digest = functools.cache(folder_fingerprint)  # params are asked for more than once


def get_target_images(wildcards):
    """The digest of the images a manifest job lists: its split's folder (the train folder for a
    carved validation split), so a changed test image reruns test.csv alone."""
    root = user_root(TARGETS[wildcards.target])
    if root is None:
        return ""
    reads_test = wildcards.split == "test" and not carves_validation(wildcards.target)
    return images_digest(os.path.join(root, (test_split if reads_test else train_split)(wildcards.target)))


def get_source_images(wildcards):
    root = user_root(SOURCES[wildcards.source])
    return "" if root is None else images_digest(root)


def get_relations(target):
    """The related-classes table of a target, if it has one (the demo always does)."""
    return relations(TARGETS[target])


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


def descriptor_shards(target, domain, bank):
    return expand(
        "results/{target}/bank-{bank}/hist/{domain}/shard-{shard}.h5",
        target=target,
        bank=bank,
        domain=domain,
        shard=range(n_shards(domain)),
    )


# One descriptor job per (target, domain, shard) decodes each image once and writes the shard of
# every bank (rules/descriptors.smk): its outputs are every bank's shard file, its inputs every
# bank's bounds, in the order of bank.names. A change to one bank's settings reruns that bank's
# bounds, then every shard job, and so the kNN index of every bank and what follows it.
EVERY_BANK_BOUNDS = expand("results/{{target}}/bank-{bank}/bounds.h5", bank=BANKS)
EVERY_BANK_SHARD = expand("results/{{target}}/bank-{bank}/hist/{{domain}}/shard-{{shard}}.h5", bank=BANKS)


def knn_index(target, bank):
    return f"results/{target}/bank-{bank}/knn.h5"


def bank_settings(target, name):
    """A bank's settings (workflow/banks.py), given the run's starting model: library weights by
    name, or a checkpoint file."""
    start = pretrained_checkpoint(target) or config["model"]["init"]
    return bank_spec(name).settings(config, start)


def get_weights_inputs(*starts):
    """The records of rule fetch_weights (rules/weights.smk) for the library weights among ``starts``
    (model.init or bank.cnn.model values), as a job's input ``weights``: the local fetch runs first."""
    records = sorted({r for r in (weights_record_of(config["model"]["arch"], s) for s in starts) if r})
    return {"weights": records} if records else {}


def get_all_weights():
    """Every fetch_weights record the configured runs need, the input of `snakemake weights`: the
    starting model of the configured methods and the networks of the banks (the same for every
    target: library weights are names, not files)."""
    starts = [start_model(name) for name in config["methods"] if name in METHODS]
    starts += [bank_spec(bank).network(bank_settings(next(iter(TARGETS)), bank)) for bank in BANKS]
    return get_weights_inputs(*(s for s in starts if s)).get("weights", [])


def get_bank_inputs(wildcards):
    """A bank that takes a network's filters reads its checkpoint (when it is a file of ours), or
    the record of its library weights (the descriptor jobs read them after this job)."""
    inputs = {"manifest": target_manifest(wildcards.target, "train")}
    network = bank_spec(wildcards.bank).network(bank_settings(wildcards.target, wildcards.bank))
    if network and network not in ("alexnet", *LIBRARY_WEIGHTS):
        inputs["model"] = network
    elif network:
        inputs.update(get_weights_inputs(network))
    return inputs


def per_attempt(base):
    """A resource (mem_mb, runtime in minutes) that grows with the attempt: with --retries, a job
    killed for running out of memory or time is resubmitted asking for twice, then three times, as much."""
    return lambda wildcards, attempt: base * attempt


def cli_options(**options):
    """'--name value ...' (quoted) for a stage command; a list gives its values one after the other.

    Settings that change a result reach the job as one such string; Snakemake's params trigger
    compares a job's parameter *values* without their names, so with separate params a change
    from bins 32 to 16 went unnoticed while batch_size was 16.
    """

    def values(value):
        items = value if isinstance(value, (list, tuple)) else [value]
        return " ".join(shlex.quote(str(item)) for item in items)

    return " ".join(f"--{name.replace('_', '-')} {values(value)}" for name, value in options.items())


def get_bank_settings(wildcards):
    return json.dumps(bank_settings(wildcards.target, wildcards.bank), sort_keys=True)


def get_bounds_args(wildcards):
    bank = config["bank"]
    return cli_options(
        bank=wildcards.bank,
        bank_settings=get_bank_settings(wildcards),
        bins=bank["bins"],
        intervals=bank["intervals"],
        image_size=bank["image_size"],
        jpeg_draft=config["descriptors"]["jpeg_draft"],  # stored in bounds.h5: the shards decode alike
    )


def get_knn_args(wildcards):
    retrieval = config["retrieval"]
    return (
        cli_options(
            k=kmax_of(wildcards.target),
            eps=retrieval["eps"],
            divergence=retrieval["divergence"],
            search=retrieval["search"],
            candidates=retrieval["candidates"],
        )
        + f" {exclusion_settings()}"
    )


def get_shards_arg(wildcards):
    return cli_options(shards=n_shards(wildcards.domain))


# execution settings: they do not change a result (reruns after a change are harmless)
DECODING_ARGS = cli_options(batch_size=config["descriptors"]["batch_size"], workers=config["descriptors"]["workers"])


# ------------------------------------------------------------------ leakage audit (rules/leakage.smk)

# the target splits whose duplicates in the pool no method borrows (config leakage.exclude)
EXCLUDED_SPLITS = LEAKAGE_EXCLUSIONS[config["leakage"]["exclude"]]


def source_fingerprints(source):
    return expand(
        "results/source/{source}/fingerprints/shard-{shard}.h5", source=source, shard=range(n_shards("source"))
    )


def leakage_table(target):
    return f"results/{target}/leakage.csv"


def get_exclusion_input(target, applies=True):
    """The audit's table as input ``leakage`` of a job that keeps the duplicates out (``applies``):
    the kNN search, the random rankings of joint-random and the pool of joint-all."""
    return {"leakage": leakage_table(target)} if EXCLUDED_SPLITS and applies else {}


def exclusion_settings(applies=True):
    """--exclude-splits, a setting: it goes in a job's params of wildcards only, the rerun trigger's."""
    return cli_options(exclude_splits=EXCLUDED_SPLITS) if EXCLUDED_SPLITS and applies else ""


# ------------------------------------------------------------------ training runs

# The GPUs of a training job (rules pretrain, train, train_step: resources gpu): none with
# model.device cpu (a cluster or workstation without GPUs), one otherwise, which the cluster
# profiles request from the scheduler and `--resources gpu=N` counts on a workstation of N GPUs.
TRAINING_GPUS = 0 if config["model"]["device"] == "cpu" else 1


def decoding_workers(section):
    """A training job's image-decoding processes: the config's workers, as many as its threads leave
    beside the loop's one. Like loop_threads, a param of threads, which Snakemake's rerun trigger
    leaves out: neither changes a result (train.workers is not in --settings for that reason)."""
    return lambda wildcards, threads: min(config[section]["workers"], max(0, threads - 1))


def loop_threads(section):
    """The torch threads of a training job's loop: its threads less its decoding workers."""
    workers = decoding_workers(section)
    return lambda wildcards, threads: max(1, threads - workers(wildcards, threads))


def run_dir(target, method, seed, iteration, bank=None):
    return run_folder(f"results/{target}", run_token(method, bank), seed, iteration)


def token_dir(wildcards, token, iteration):
    """A run folder of the same target and seed, from a run token."""
    return run_folder(f"results/{wildcards.target}", token, wildcards.seed, iteration)


def get_neighbour_inputs(wildcards):
    """kNN borrowers: the index (+ the previous iteration's entropy and neighbour tables when mining);
    joint-random: selective's table."""
    name, bank = parse_run(wildcards.joint_run)
    inputs = {"targets": target_manifest(wildcards.target, "train")}
    iteration = int(wildcards.iter)
    if method_spec(name).borrows == "knn":
        inputs["knn"] = knn_index(wildcards.target, bank)
        if iteration > 0 and method_spec(name).mining:
            previous = token_dir(wildcards, wildcards.joint_run, iteration - 1)
            inputs.update(entropy=f"{previous}/entropy.csv", previous=f"{previous}/neighbours.csv")
    else:
        inputs["pool"] = source_manifest(wildcards.target)
        inputs["match"] = f"{token_dir(wildcards, run_token(SELECTIVE), iteration)}/neighbours.csv"
        inputs.update(get_exclusion_input(wildcards.target))
    return inputs


# Params come in two kinds: a function of (wildcards, input) is "derived from input" for
# Snakemake, which leaves it out of the params rerun trigger (input changes are caught as files).
# So the input files are passed by one function and the settings by another, of wildcards only.


def get_neighbour_files(wildcards, input):
    names = {"knn": "knn", "entropy": "entropy", "previous": "previous", "pool": "random_pool", "match": "match"}
    names["leakage"] = "exclude"
    return cli_options(**{option: input[key] for key, option in names.items() if key in input.keys()})


def get_neighbour_settings(wildcards):
    """The counts' rule: k0 (iteration 0, or no mining), the entropy rule, or random lists of the kNN lists' length."""
    name, _ = parse_run(wildcards.joint_run)
    if method_spec(name).borrows != "knn":
        return cli_options(length=kmax_of(wildcards.target), seed=wildcards.seed) + f" {exclusion_settings()}"
    if int(wildcards.iter) > 0 and method_spec(name).mining:
        sigma0, sigma1 = sigmas_of(wildcards.target)
        return cli_options(delta=SELECTION["delta"], sigma0=sigma0, sigma1=sigma1)
    return cli_options(k0=k0_of(wildcards.target))


def pretrained_checkpoint(target):
    init = config["model"]["init"]
    if init == "pretrain":
        return f"results/source/{source_of(target)}/pretrain/model.pt"
    if init in LIBRARY_WEIGHTS:
        return None
    return init


def start_model(name):
    """What a method's first iteration starts from: the configured init, or scratch."""
    return "scratch" if method_spec(name).init == "scratch" else config["model"]["init"]


def get_train_inputs(wildcards):
    """Manifests, the neighbour table of joint methods, and the weights to start from."""
    name, _ = parse_run(wildcards.run)
    spec = method_spec(name)
    inputs = {"target": target_manifest(wildcards.target, "train"), "test": target_manifest(wildcards.target, "test")}
    if spec.borrows:
        inputs["source"] = source_manifest(wildcards.target)
    if spec.borrows in ("knn", "random"):
        inputs["neighbours"] = f"{token_dir(wildcards, wildcards.run, wildcards.iter)}/neighbours.csv"
    inputs.update(get_exclusion_input(wildcards.target, spec.borrows == "all"))  # the others' tables left them out
    iteration = int(wildcards.iter)
    pretrained = pretrained_checkpoint(wildcards.target) if spec.init == "pretrained" else None
    if iteration > 0:
        inputs["init"] = f"{token_dir(wildcards, wildcards.run, iteration - 1)}/model.pt"
    elif pretrained:
        inputs["init"] = pretrained
    if spec.regularizer != "none" and pretrained:
        inputs["anchor"] = pretrained
    # library weights by name (get_train_files): the starting model at iteration 0, the regularizer's anchor
    starts = [start_model(name)] if "init" not in inputs else []
    if spec.regularizer != "none" and "anchor" not in inputs:
        starts.append(start_model(name))
    inputs.update(get_weights_inputs(*starts))
    return inputs


def get_train_files(wildcards, input):
    name, _ = parse_run(wildcards.run)
    files = {"init": input.init if "init" in input.keys() else start_model(name)}
    files.update({key: input[key] for key in ("source", "neighbours") if key in input.keys()})
    files.update({"exclude": input.leakage} if "leakage" in input.keys() else {})
    if method_spec(name).regularizer != "none":
        files["anchor"] = input.anchor if "anchor" in input.keys() else start_model(name)
    return cli_options(**files)


def get_train_exclusion(wildcards):
    return exclusion_settings(method_spec(parse_run(wildcards.run)[0]).borrows == "all")


def get_train_heads(wildcards):
    """Which heads continue from the starting model, and where a new source head comes from (workflow/plan.py)."""
    borrows = method_spec(parse_run(wildcards.run)[0]).borrows is not None
    return cli_options(**head_options(int(wildcards.iter), config["train"]["source_head"], borrows))


def pretrain_settings():
    return json.dumps(pretraining_settings(config), sort_keys=True)


def get_train_settings(wildcards):
    """The JSON --settings of a training command (workflow/plan.py: the config's train section, and the policy of
    seeds, warm-up, schedules, BatchNorm and regularizers)."""
    spec = method_spec(parse_run(wildcards.run)[0])
    settings = training_settings(config, spec, int(wildcards.seed), int(wildcards.iter), ITERATIONS)
    return json.dumps(settings, sort_keys=True)


def get_fusion_probs(wildcards):
    selective = run_token(SELECTIVE, wildcards.bank)
    return [f"{token_dir(wildcards, selective, m)}/probs.h5" for m in range(ITERATIONS)]


# ------------------------------------------------------------------ report


def report_runs():
    """The run tokens of the report: every configured method, per bank where PER_BANK says so."""
    return [run_token(m, b) for m in config["methods"] for b in (BANKS if m in PER_BANK else [None])]


def get_report_inputs(wildcards):
    t = wildcards.target
    inputs = {
        "train": target_manifest(t, "train"),
        "source": source_manifest(t),
        "runs": [],
        "leakage": leakage_table(t),
    }
    for token in report_runs():
        for seed in config["seeds"]:
            if parse_run(token)[0] == FUSION:
                inputs["runs"].append(f"{run_folder(f'results/{t}', token, seed)}/eval.csv")
                continue
            listed = method_spec(parse_run(token)[0]).borrows in ("knn", "random")  # the report counts their pairs
            for m in range(ITERATIONS):
                run = run_folder(f"results/{t}", token, seed, m)
                inputs["runs"] += [f"{run}/eval.csv", f"{run}/train.json"] + (
                    [f"{run}/neighbours.csv"] if listed else []
                )
    if get_relations(t):
        inputs["relations"] = get_relations(t)
    return inputs


def get_report_files(wildcards, input):
    return cli_options(relations=input.relations) if "relations" in input.keys() else ""


def get_report_settings(wildcards):
    runs = " ".join(report_runs())
    seeds = " ".join(str(s) for s in config["seeds"])
    return f"--runs {runs} --seeds {seeds} --iterations {ITERATIONS} {exclusion_settings()}"


# ------------------------------------------------------------------ report page


def html_class_tables(target):
    """Readable class names, where the data sets have a classes.tsv (folder name, tab, name).

    The target's is looked for in its root, the source's in its root and the root's parent
    (tiny-transfer keeps it beside source/train/).
    """
    tables = {}
    root = TARGETS[target].get("root")
    if root and os.path.exists(os.path.join(root, "classes.tsv")):
        tables["target_classes"] = os.path.join(root, "classes.tsv")
    root = SOURCES[source_of(target)].get("root")
    for folder in [root, os.path.dirname(os.path.normpath(root))] if root else []:
        if os.path.exists(os.path.join(folder, "classes.tsv")):
            tables["source_classes"] = os.path.join(folder, "classes.tsv")
            break
    return tables


def get_html_inputs(wildcards):
    """The report tables, manifests, every bank's kNN index, selective's neighbour tables (main
    bank, first seed, every iteration), every trained run's curves and the class-name tables."""
    t = wildcards.target
    inputs = {
        "report": f"results/{t}/report.csv",
        "paired": f"results/{t}/paired.csv",
        "runs": f"results/{t}/runs.csv",
        "train": target_manifest(t, "train"),
        "source": source_manifest(t),
        "knn": [knn_index(t, bank) for bank in BANKS],
        "leakage": leakage_table(t),
        "leakage_summary": f"results/{t}/leakage-summary.csv",
    }
    if SELECTIVE in config["methods"]:
        seed = config["seeds"][0]
        inputs["neighbours"] = [
            f"{run_dir(t, SELECTIVE, seed, m, bank=BANKS[0])}/neighbours.csv" for m in range(ITERATIONS)
        ]
    # the training curves: every trained run's epochs.csv, and the pretraining's when the run had one
    inputs["epochs"] = [
        f"{run_folder(f'results/{t}', token, seed, m)}/epochs.csv"
        for token in report_runs()
        if parse_run(token)[0] != FUSION
        for seed in config["seeds"]
        for m in range(ITERATIONS)
    ]
    if config["model"]["init"] == "pretrain":
        inputs["pretrain_epochs"] = f"results/source/{source_of(t)}/pretrain/epochs.csv"
    inputs.update(html_class_tables(t))
    return inputs


def pretraining_pool(target):
    """Whether the backbone was pretrained on the target's source pool: the pretrain stage's, or
    weights (the library's or a checkpoint) that sources.<pool>.pretraining_set says were trained on it
    (ImageNet weights and an ImageNet pool)."""
    init = config["model"]["init"]
    return init == "pretrain" or (init != "scratch" and SOURCES[source_of(target)]["pretraining_set"])


def get_html_settings(wildcards):
    """The leakage audit's settings of the page: the excluded splits, and whether to warn that the
    backbone saw the pool."""
    settings = cli_options(pretraining_pool=pretraining_pool(wildcards.target))
    return f"{settings} {exclusion_settings()}"


def get_html_args(wildcards, input):
    keys = ("neighbours", "epochs", "target_classes", "source_classes", "leakage", "leakage_summary", "pretrain_epochs")
    return cli_options(**{key: input[key] for key in keys if key in input.keys() and len(input[key])})


def get_final_outputs():
    return [f"results/{t}/{name}" for t in TARGETS for name in ("report.csv", "report.html", "table.md", "table.tex")]
