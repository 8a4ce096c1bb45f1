"""The planning policy of training jobs: what each job's settings and heads are, from the config.

The rules (``rules/common.smk``) call these functions and pass their answers to the jobs as
they are; the policy lives here, where unit tests call it directly instead of reading it back
out of ``snakemake -n -p``. A training setting is a key of the config's ``train`` (or
``pretrain``) section and of ``workflow.joint.TrainSettings``, listed once below
(``TRAINED_KEYS``); the policy adds the keys that depend on the job: its seed, iteration and
method.

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

from .methods import Method

# the keys of both sections that a fit reads as they are (workflow.joint.TrainSettings)
SHARED_KEYS = ("batch_size", "lr", "head_lr_mult", "lr_step", "momentum", "weight_decay", "flip", "crop_padding",
               "precision", "deterministic", "jpeg_draft", "augmentation", "scale_sizes")
# ... and those of the train section alone
TRAINED_KEYS = SHARED_KEYS + ("freeze_bn", "source_weight", "warmup_epochs", "warmup_lr", "accumulate", "lr_drops",
                              "test_resize", "test_crops")
SEED_STRIDE = 1000  # iteration m of seed s draws its pairs and crops with seed s * SEED_STRIDE + m


def iteration_seed(seed: int, iteration: int) -> int:
    """The seed of one iteration's fit: every iteration draws its own pairs and crops."""
    return seed * SEED_STRIDE + iteration


def pretraining_settings(config: dict, seed: int = 0) -> dict:
    """The settings of the pretrain job (backbone and source head on the pool, from scratch)."""
    section = config["pretrain"]
    settings = {key: section[key] for key in SHARED_KEYS}
    settings.update(freeze_bn=False,  # from scratch: no running statistics to keep
                    epochs=section["epochs"], seed=seed, input_size=config["model"]["input_size"])
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
    settings = {key: train[key] for key in TRAINED_KEYS}
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
