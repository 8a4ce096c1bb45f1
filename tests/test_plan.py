"""The planning policy of training jobs (workflow/plan.py), called directly: seeds, warm-up,
schedules, BatchNorm, regularizers, heads; and every key a job gets is a TrainSettings field."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import default_config

from workflow.joint import TrainSettings
from workflow.methods import METHODS
from workflow.plan import (TRAINED_KEYS, head_options, iteration_seed, pretraining_settings, training_settings)

FIELDS = {field.name for field in dataclasses.fields(TrainSettings)}


def test_every_iteration_of_every_seed_draws_with_its_own_seed():
    seeds = {iteration_seed(s, m) for s in range(5) for m in range(10)}
    assert len(seeds) == 50 and iteration_seed(2, 3) == 2003


def test_settings_are_the_config_section_plus_the_jobs_own_keys():
    config = default_config()
    settings = training_settings(config, METHODS["selective"], seed=1, iteration=0, iterations=3)
    assert {k: settings[k] for k in TRAINED_KEYS} == {k: config["train"][k] for k in TRAINED_KEYS}
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
