"""The training jobs (rules pretrain, train, train_step, fusion): their inputs, settings and heads.

The policy is in functions of the config that unit tests call directly (``training_settings``,
``head_options``, ``iteration_seed``); ``TrainingJobs`` answers the rules' questions with them.
A fit's settings are the config's ``train`` (or ``pretrain``) section as it is, less the keys the
planner itself reads (``PLANNED_KEYS``) and those that change no result (``EXECUTION_KEYS``), plus
the keys that depend on the job: its seed, iteration and method. ``workflow.joint.TrainSettings``
reads them, so a new training key is a schema entry and a TrainSettings field.

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

import json

from ..methods import FUSION, Method, lookup as method_spec
from .commands import cli_options
from .layout import Layout, one_of, split_token

# the keys of the train and pretrain sections the planner reads itself: the schedule of the
# iterations, the heads a fit starts from, the model files that stay
PLANNED_KEYS = ("epochs_per_iteration", "steps_per_iteration", "lr_schedule", "source_head", "keep_models")
# ... and those that change no result: they reach the job as options of their own, out of --settings,
# so that changing them reruns nothing
EXECUTION_KEYS = ("workers", "checkpoint_seconds")
SEED_STRIDE = 1000  # iteration m of seed s draws its pairs and crops with seed s * SEED_STRIDE + m


def iteration_seed(seed: int, iteration: int) -> int:
    """The seed of one iteration's fit: every iteration draws its own pairs and crops."""
    return seed * SEED_STRIDE + iteration


def fit_keys(section: dict) -> dict:
    """A training section's keys that a fit reads as they are (``workflow.joint.TrainSettings``)."""
    return {key: value for key, value in section.items() if key not in PLANNED_KEYS + EXECUTION_KEYS}


def pretraining_settings(config: dict, seed: int = 0) -> dict:
    """The settings of the pretrain job (backbone and source head on the pool, from scratch)."""
    settings = fit_keys(config["pretrain"])
    settings.update(freeze_bn=False,  # from scratch: no running statistics to keep
                    seed=seed, input_size=config["model"]["input_size"])
    return settings


def training_settings(config: dict, method: Method, seed: int, iteration: int, iterations: int) -> dict:
    """The settings of iteration ``iteration`` (of ``iterations``) of a method's run with ``seed``.

    - the heads warm up before iteration 0 only (later iterations continue warmed heads);
    - ``train.steps_per_iteration`` counts optimizer steps instead of epochs (the paper's schedule);
    - ``train.lr_schedule: run`` puts the iterations on one schedule: each fit starts where the
      previous ended, of the run's length;
    - a method from scratch trains its BatchNorm statistics (there are no pretrained ones);
    - a regularizer brings its config section and the per-epoch decay.
    """
    train = config["train"]
    settings = fit_keys(train)
    settings.update(epochs=train["epochs_per_iteration"], seed=iteration_seed(seed, iteration),
                    input_size=config["model"]["input_size"], regularizer=method.regularizer, dtnh=method.dtnh)
    if iteration > 0:
        settings["warmup_epochs"] = 0
    steps = train["steps_per_iteration"]
    if steps:
        settings.update(epochs=0, steps=steps)
    if train["lr_schedule"] == "run":
        length = steps or train["epochs_per_iteration"]
        first, run = ("first_step", "run_steps") if steps else ("first_epoch", "run_epochs")
        settings.update({run: length * iterations, first: length * iteration})
    if method.init == "scratch":
        settings["freeze_bn"] = False
    if method.regularizer != "none":
        settings.update(config["regularization"][method.regularizer], decay=config["regularization"]["decay"])
    return settings


def head_options(iteration: int, source_head: str, borrows: bool) -> dict:
    """Which heads a fit takes from its starting model, and where a new source head starts
    (the train stage's ``keep_heads`` and ``source_head``; empty: both heads new, at random).

    A later iteration continues both heads of the previous one; iteration 0 keeps the
    checkpoint's source head with ``train.source_head: pretrained``, or starts a borrowing
    method's from the weights' own ImageNet classifier with ``imagenet``.
    """
    if iteration > 0:
        return {"keep_heads": ["target", "source"]}
    if source_head == "pretrained":
        return {"keep_heads": ["source"]}
    if source_head == "imagenet" and borrows:
        return {"source_head": "imagenet"}
    return {}


class TrainingJobs(Layout):
    """The rules pretrain, train, train_step and fusion, from the config."""

    @property
    def training_gpus(self) -> int:
        """A training job's GPUs (resources gpu): none with model.device cpu (a cluster or workstation
        without GPUs), one otherwise, which the cluster profiles request from the scheduler and
        `--resources gpu=N` counts on a workstation of N GPUs."""
        return 0 if self.config["model"]["device"] == "cpu" else 1

    def model_iterations(self) -> tuple[str, str]:
        """The wildcard constraints of the iterations whose model.pt stays (rule train) and of those
        whose model.pt goes once the next iteration has read it (train_step): train.keep_models."""
        if self.config["train"]["keep_models"] == "all":
            return r"\d+", one_of([])
        return str(self.iterations - 1), one_of(range(self.iterations - 1))

    def decoding_workers(self, section: str):
        """A training job's image-decoding processes: the config's workers, as many as its threads leave
        beside the loop's one. Like loop_threads, a param of threads, which Snakemake's rerun trigger
        leaves out: neither changes a result (train.workers is not in --settings for that reason)."""
        return lambda wildcards, threads: min(self.config[section]["workers"], max(0, threads - 1))

    def loop_threads(self, section: str):
        """The torch threads of a training job's loop: its threads less its decoding workers."""
        workers = self.decoding_workers(section)
        return lambda wildcards, threads: max(1, threads - workers(wildcards, threads))

    def resume_options(self, section: str) -> str:
        return cli_options(checkpoint_seconds=self.config[section]["checkpoint_seconds"])

    def pretrain_settings(self) -> str:
        return json.dumps(pretraining_settings(self.config), sort_keys=True)

    def train_inputs(self, wildcards) -> dict:
        """Manifests, the neighbour table of the methods that borrow lists, the leakage table of
        joint-all, and the model to start from (the previous iteration's, or the pretrained one;
        the anchor of a regularizer; the records of library weights)."""
        name, _ = split_token(wildcards.run)
        spec, target, iteration = method_spec(name), wildcards.target, int(wildcards.iter)
        inputs = {"target": self.target_manifest(target, "train"), "test": self.target_manifest(target, "test")}
        if spec.borrows:
            inputs["source"] = self.source_manifest(target)
        if spec.borrows_lists:
            inputs["neighbours"] = self.run_file(target, wildcards.run, wildcards.seed, iteration, "neighbours.csv")
        inputs.update(self.exclusion_input(target, spec.borrows == "all"))  # the others' lists left them out
        pretrained = self.pretrained_checkpoint(target) if spec.init == "pretrained" else None
        if iteration > 0:
            inputs["init"] = self.run_file(target, wildcards.run, wildcards.seed, iteration - 1, "model.pt")
        elif pretrained:
            inputs["init"] = pretrained
        if spec.regularizer != "none" and pretrained:
            inputs["anchor"] = pretrained
        # library weights by name (train_files): the starting model at iteration 0, the regularizer's anchor
        starts = [self.start_model(name)] if "init" not in inputs else []
        if spec.regularizer != "none" and "anchor" not in inputs:
            starts.append(self.start_model(name))
        inputs.update(self.weights_inputs(*starts))
        return inputs

    def train_files(self, wildcards, input) -> str:
        """The files of a training command; library weights go by name."""
        name, _ = split_token(wildcards.run)
        files = {"init": input["init"] if "init" in input.keys() else self.start_model(name)}
        files.update({key: input[key] for key in ("source", "neighbours") if key in input.keys()})
        files.update({"exclude": input["leakage"]} if "leakage" in input.keys() else {})
        if method_spec(name).regularizer != "none":
            files["anchor"] = input["anchor"] if "anchor" in input.keys() else self.start_model(name)
        return cli_options(**files)

    def train_exclusion(self, wildcards) -> str:
        return self.exclusion_settings(method_spec(split_token(wildcards.run)[0]).borrows == "all")

    def train_heads(self, wildcards) -> str:
        """Which heads continue from the starting model, and where a new source head comes from."""
        borrows = method_spec(split_token(wildcards.run)[0]).borrows is not None
        return cli_options(**head_options(int(wildcards.iter), self.config["train"]["source_head"], borrows))

    def train_settings(self, wildcards) -> str:
        """The JSON --settings of a training command (``training_settings``)."""
        spec = method_spec(split_token(wildcards.run)[0])
        settings = training_settings(self.config, spec, int(wildcards.seed), int(wildcards.iter), self.iterations)
        return json.dumps(settings, sort_keys=True)

    def fusion_probs(self, wildcards) -> list[str]:
        """The softmax outputs fusion averages: every iteration of the method it reads, in its bank."""
        token = self.run_token(method_spec(FUSION).reads, wildcards.bank)
        return [self.run_file(wildcards.target, token, wildcards.seed, m, "probs.h5") for m in range(self.iterations)]
