"""The ImageNet-regime config plans what its comments promise: the offline weights by name (no
checkpoint file to build), the CNN bank from those weights after their nonlinearity, warm-up only
before the first iteration, one schedule over the iterations, and the ImageNet source head when
asked. A dry run (-p prints every job's command); no job runs."""

from __future__ import annotations

import json
import re

import yaml
from conftest import REPO, planned_jobs, snakemake, write_config


def imagenet_config(**train) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    regime = yaml.safe_load((REPO / "config" / "tiny-transfer-imagenet.yaml").read_text())
    for key, value in regime.items():  # as Snakemake merges a --configfile: section by section
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    config["targets"]["invertebrates"]["root"] = "/data/invertebrates"  # a dry run reads no image
    config["sources"]["tiny"]["root"] = "/data/source"
    config["train"].update(train)
    return config


def train_commands(output: str) -> dict[str, str]:
    """The shell command of every planned train job, by its run folder."""
    commands = {}
    for command in re.findall(r"python -m workflow --threads \d+ train .*", output):
        folder = re.search(r"\$\(dirname results/invertebrates/(\S+)/model\.pt\)", command).group(1)
        commands[folder] = command
    return commands


def settings_of(command: str) -> dict:
    return json.loads(re.search(r"--settings '(\{.*?\})'", command).group(1))


def test_the_imagenet_regime_plans_offline_weights_warm_up_and_one_schedule(tmp_path):
    write_config(tmp_path, imagenet_config(source_head="imagenet"))
    result = snakemake(tmp_path, "-n", "-p", "--", "results/invertebrates/report.csv")
    jobs = planned_jobs(result.stdout)
    seeds = len(imagenet_config()["seeds"])
    assert "pretrain" not in jobs and jobs["train"] + jobs["train_step"] == 9 * 3 * seeds  # 9 trained runs (selective per bank), 3 iterations
    commands = train_commands(result.stdout)
    epochs = imagenet_config()["train"]["epochs_per_iteration"]
    for m in range(3):
        command = commands[f"bank-gabor/selective/seed-0/iter-{m}"]
        settings = settings_of(command)
        assert settings["run_epochs"] == 3 * epochs and settings["first_epoch"] == m * epochs
        assert settings["warmup_epochs"] == (3 if m == 0 else 0)
        assert ("--source-head imagenet" in command) == (m == 0)  # later iterations keep their own heads
        assert ("--init efficientnet-lite" in command) == (m == 0)
    assert "--source-head" not in commands["finetune/seed-0/iter-0"]  # no source images, no source head
    bounds = re.search(r"python -m workflow --threads \d+ bounds .*--bank cnn .*", result.stdout).group(0)
    bank = json.loads(re.search(r"--bank-settings '(\{.*?\})'", bounds).group(1))
    assert bank == {"activation": True, "arch": "tf_efficientnet_lite0", "layers": None, "model": "efficientnet-lite"}


def test_an_iteration_schedule_restarts_each_iteration(tmp_path):
    write_config(tmp_path, imagenet_config(lr_schedule="iteration"))
    result = snakemake(tmp_path, "-n", "-p", "--", "results/invertebrates/bank-gabor/selective/seed-0/iter-2/eval.csv")
    settings = settings_of(train_commands(result.stdout)["bank-gabor/selective/seed-0/iter-2"])
    assert "run_epochs" not in settings and "first_epoch" not in settings


def test_a_schedule_of_steps_runs_over_the_iterations_and_the_decay_reaches_regularized_runs_only(tmp_path):
    config = imagenet_config(steps_per_iteration=50, lr_drops=[60, 120], accumulate=2)
    config["regularization"]["decay"] = 0.9
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "-p", "--", "results/invertebrates/report.csv")
    commands = train_commands(result.stdout)
    for m in range(3):
        settings = settings_of(commands[f"bank-gabor/selective/seed-0/iter-{m}"])
        assert settings["steps"] == 50 and settings["epochs"] == 0 and settings["accumulate"] == 2
        assert settings["run_steps"] == 150 and settings["first_step"] == 50 * m and settings["lr_drops"] == [60, 120]
        assert "run_epochs" not in settings and "decay" not in settings
    assert settings_of(commands["dtnh-l2sp/seed-0/iter-1"])["decay"] == 0.9
