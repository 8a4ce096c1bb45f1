"""The planner (workflow/plan/), called directly: the training policy (seeds, warm-up, schedules,
BatchNorm, regularizers, heads; every key a job gets is a TrainSettings field) and what each job
reads (the previous iteration's lists, the model to start from, the report's run folders)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from conftest import default_config

from workflow.joint import TrainSettings
from workflow.methods import METHODS
from workflow.plan import Plan
from workflow.plan.layout import parse_run_folder
from workflow.plan.training import (EXECUTION_KEYS, PLANNED_KEYS, head_options, iteration_seed, pretraining_settings,
                                    training_settings)

FIELDS = {field.name for field in dataclasses.fields(TrainSettings)}


def test_every_iteration_of_every_seed_draws_with_its_own_seed():
    seeds = {iteration_seed(s, m) for s in range(5) for m in range(10)}
    assert len(seeds) == 50 and iteration_seed(2, 3) == 2003


def test_settings_are_the_config_section_plus_the_jobs_own_keys():
    config = default_config()
    settings = training_settings(config, METHODS["selective"], seed=1, iteration=0, iterations=3)
    passed = set(config["train"]) - set(PLANNED_KEYS) - set(EXECUTION_KEYS)
    assert {k: settings[k] for k in passed} == {k: config["train"][k] for k in passed}
    assert not set(settings) & (set(PLANNED_KEYS) | set(EXECUTION_KEYS))
    assert settings["seed"] == 1000 and settings["epochs"] == config["train"]["epochs_per_iteration"]
    assert set(settings) <= FIELDS  # nothing a fit does not read
    TrainSettings(**settings, workers=0)
    TrainSettings(**pretraining_settings(config), workers=0)


def test_the_heads_warm_up_before_the_first_iteration_only():
    config = default_config()
    config["train"].update(warmup_epochs=2)
    warm = [training_settings(config, METHODS["finetune"], 0, m, 3)["warmup_epochs"] for m in range(3)]
    assert warm == [2, 0, 0]


def test_scratch_methods_train_their_batchnorm_and_regularizers_bring_their_section():
    config = default_config()
    config["train"]["freeze_bn"] = True
    assert training_settings(config, METHODS["finetune"], 0, 0, 1)["freeze_bn"] is True
    assert training_settings(config, METHODS["scratch"], 0, 0, 1)["freeze_bn"] is False
    assert pretraining_settings(config)["freeze_bn"] is False
    l2sp = training_settings(config, METHODS["dtnh-l2sp"], 0, 0, 1)
    assert l2sp["regularizer"] == "l2sp" and l2sp["dtnh"] is True
    assert {k: l2sp[k] for k in config["regularization"]["l2sp"]} == config["regularization"]["l2sp"]
    assert l2sp["decay"] == config["regularization"]["decay"]
    assert "decay" not in training_settings(config, METHODS["selective"], 0, 0, 1)


@pytest.mark.parametrize("steps", [0, 40])
def test_one_schedule_over_the_run_starts_each_iteration_where_the_last_ended(steps):
    config = default_config()
    config["train"].update(lr_schedule="run", steps_per_iteration=steps, epochs_per_iteration=5)
    runs = [training_settings(config, METHODS["selective"], 0, m, 3) for m in range(3)]
    first, run, length = ("first_step", "run_steps", 40) if steps else ("first_epoch", "run_epochs", 5)
    assert [r[first] for r in runs] == [0, length, 2 * length] and {r[run] for r in runs} == {3 * length}
    assert all(r["epochs"] == (0 if steps else 5) and r.get("steps", 0) == steps for r in runs)
    config["train"]["lr_schedule"] = "iteration"
    assert first not in training_settings(config, METHODS["selective"], 0, 2, 3)


def test_heads_continue_within_a_run_and_start_where_source_head_says():
    assert head_options(1, "random", True) == {"keep_heads": ["target", "source"]}
    assert head_options(0, "random", True) == {}
    assert head_options(0, "pretrained", False) == {"keep_heads": ["source"]}
    assert head_options(0, "imagenet", True) == {"source_head": "imagenet"}
    assert head_options(0, "imagenet", False) == {}  # no source images, no source head to start


def test_a_new_training_key_reaches_the_fit_without_the_planner_listing_it():
    config = default_config()
    config["train"]["label_smoothing"] = 0.1
    assert training_settings(config, METHODS["finetune"], 0, 0, 1)["label_smoothing"] == 0.1


def wildcards(**values) -> SimpleNamespace:
    return SimpleNamespace(**{k: str(v) for k, v in values.items()})


def test_mining_reads_its_own_previous_iteration_and_joint_random_reads_selective():
    plan = Plan(default_config())
    first = plan.neighbour_inputs(wildcards(target="demo", run="bank-gabor/selective", seed=0, iter=0))
    assert set(first) == {"targets", "knn"} and first["knn"] == "results/demo/bank-gabor/knn.h5"
    later = plan.neighbour_inputs(wildcards(target="demo", run="bank-gabor/selective", seed=0, iter=2))
    assert later["previous"] == "results/demo/bank-gabor/selective/seed-0/iter-1/neighbours.csv"
    assert later["entropy"] == "results/demo/bank-gabor/selective/seed-0/iter-1/entropy.csv"
    fixed = plan.neighbour_inputs(wildcards(target="demo", run="bank-gabor/selective-noiter", seed=0, iter=2))
    assert "previous" not in fixed and "entropy" not in fixed
    assert plan.neighbour_settings(wildcards(target="demo", run="bank-gabor/selective-noiter", seed=0, iter=2)) == (
        f"--k0 {plan.k0_of('demo')}")
    drawn = plan.neighbour_inputs(wildcards(target="demo", run="joint-random", seed=3, iter=1))
    assert drawn["match"] == "results/demo/bank-gabor/selective/seed-3/iter-1/neighbours.csv"
    assert drawn["leakage"] == "results/demo/leakage.csv"  # leakage.exclude: test (the default)


def test_a_run_starts_from_its_previous_iteration_and_keeps_the_pretrained_anchor():
    plan = Plan(default_config())  # model.init: pretrain
    pretrained = "results/source/demo/pretrain/model.pt"
    first = plan.train_inputs(wildcards(target="demo", run="l2sp", seed=0, iter=0))
    assert first["init"] == pretrained and first["anchor"] == pretrained and "neighbours" not in first
    later = plan.train_inputs(wildcards(target="demo", run="l2sp", seed=0, iter=2))
    assert later["init"] == "results/demo/l2sp/seed-0/iter-1/model.pt" and later["anchor"] == pretrained
    scratch = plan.train_inputs(wildcards(target="demo", run="scratch", seed=0, iter=0))
    assert "init" not in scratch and "--init scratch" in plan.train_files(wildcards(run="scratch"), scratch)
    joint = plan.train_inputs(wildcards(target="demo", run="joint-all", seed=0, iter=0))
    assert joint["leakage"] == "results/demo/leakage.csv" and "neighbours" not in joint


def test_only_the_last_iterations_model_stays_unless_keep_models_all():
    config = default_config()
    iterations = config["selection"]["iterations"]
    kept, temporary = Plan(config).model_iterations()
    assert kept == str(iterations - 1) and temporary == "|".join(map(str, range(iterations - 1)))
    config["train"]["keep_models"] = "all"
    assert Plan(config).model_iterations() == (r"\d+", "(?!)")


def test_the_report_reads_every_run_folder_once_with_fusion_per_bank():
    config = default_config()
    plan = Plan(config)
    files = plan.report_inputs(wildcards(target="demo"))["runs"]
    folders = list(dict.fromkeys(str(path).rsplit("/", 1)[0] for path in files))
    runs = {parse_run_folder(folder)[0] for folder in folders}
    banks = config["bank"]["names"]
    assert {f"bank-{bank}/fusion" for bank in banks} <= runs and {f"bank-{bank}/selective" for bank in banks} <= runs
    assert "bank-cnn/selective-noiter" not in runs  # the ablations run with the main bank only
    assert "results/demo/finetune/seed-0/iter-0/neighbours.csv" not in files
    assert "results/demo/joint-random/seed-0/iter-0/neighbours.csv" in files  # the report counts its pairs
    trained = [f for f in folders if parse_run_folder(f)[2] is not None]
    assert len(trained) == len(set(trained)) == (len(runs) - len(banks)) * len(config["seeds"]) * plan.iterations
