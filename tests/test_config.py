"""Bad input is refused with a message that names it: config keys, dataset paths, images."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import default_config, snakemake, write_config


def dry_run_error(tmp_path, config) -> str:
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "--", "results/demo/report.csv", check=False)
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_default_config_validates(tmp_path):
    write_config(tmp_path, default_config())
    assert snakemake(tmp_path, "-n", "--", "results/demo/report.csv").returncode == 0


def test_unknown_key_is_named(tmp_path):
    config = default_config()
    config["train"]["lrr"] = 0.1
    assert "lrr" in dry_run_error(tmp_path, config)


def test_missing_key_is_named(tmp_path):
    config = default_config()
    del config["selection"]["k0"]
    assert "'k0' is a required property" in dry_run_error(tmp_path, config)


@pytest.mark.parametrize(("section", "key", "value"), [("selection", "k0", -3), ("bank", "bins", "many"), ("train", "source_head", "imagenet21k")])
def test_bad_values_are_named(tmp_path, section, key, value):
    config = default_config()
    config[section][key] = value
    message = dry_run_error(tmp_path, config)
    assert repr(value) in message or str(value) in message
    assert key in message


def test_unknown_source_of_a_target_is_named(tmp_path):
    config = default_config()
    config["targets"]["demo"]["source"] = "imagenet"
    assert "targets.demo.source" in dry_run_error(tmp_path, config)


def test_imagefolder_target_needs_a_root(tmp_path):
    config = default_config()
    config["targets"]["demo"] = {"kind": "imagefolder", "source": "demo"}
    assert "'root' is a required property" in dry_run_error(tmp_path, config)


def test_missing_dataset_folder_is_named(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "workflow", "target-manifest", "--root", str(tmp_path / "nowhere"), "--out-dir", str(tmp_path / "m"),
         "--train-split", "train", "--test-split", "test"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert str(tmp_path / "nowhere" / "train") in result.stderr
    assert not (tmp_path / "m").exists()


def test_scratch_methods_need_no_pretraining(tmp_path):
    """Methods that start from random weights plan no pretraining job (the Gabor bank retrieves)."""
    config = default_config()
    config.update(methods=["scratch", "selective-scratch"])
    config["bank"]["names"] = ["gabor"]
    write_config(tmp_path, config)
    planned = snakemake(tmp_path, "-n", "--", "results/demo/report.csv").stdout
    assert "rule pretrain:" not in planned and "rule train:" in planned


def test_cnn_bank_refuses_untrained_filters(tmp_path):
    config = default_config()
    config["model"]["init"] = "scratch"
    assert "bank.cnn.model" in dry_run_error(tmp_path, config)


def test_unknown_method_is_named(tmp_path):
    config = default_config()
    config["methods"].append("mixup")
    message = dry_run_error(tmp_path, config)
    assert "'mixup' is not a method" in message and "selective-dtnh" in message  # the known ones, listed


def test_unknown_bank_is_named(tmp_path):
    config = default_config()
    config["bank"]["names"] = ["gabor", "sift"]
    message = dry_run_error(tmp_path, config)
    assert "bank.names: 'sift' is not a filter bank" in message and "gabor, cnn" in message


def test_a_bad_bank_setting_is_named(tmp_path):
    """A bank's section is checked by its row's schema (workflow/banks.py) before any job runs."""
    config = default_config()
    config["bank"]["gabor"]["frequencies"] = [0.1, 0.7]
    assert "config bank.gabor.frequencies.1: 0.7 is greater than the maximum of 0.5" in dry_run_error(tmp_path, config)


def test_unknown_dataset_kind_is_named(tmp_path):
    config = default_config()
    config["sources"]["demo"]["kind"] = "torchvision"  # a kind of targets only
    message = dry_run_error(tmp_path, config)
    assert "sources.demo.kind is 'torchvision'" in message and "demo, imagefolder" in message


def test_training_settings_have_one_home_the_config(tmp_path):
    """Every pretrain and train job's --settings builds a TrainSettings, whose config-backed fields
    have no defaults of their own, and each value is the config's (the demo's plan, a dry run)."""
    import dataclasses
    import json
    import re

    from workflow.joint import TrainSettings

    config = default_config()
    write_config(tmp_path, config)
    plan = snakemake(tmp_path, "-n", "-p", "--", "results/demo/report.csv").stdout
    commands = re.findall(r"python -m workflow --threads \d+ (pretrain|train) .*?--settings '(\{.*?\})' --workers (\d+)",
                          plan)
    assert {stage for stage, _, _ in commands} == {"pretrain", "train"}
    required = {f.name for f in dataclasses.fields(TrainSettings) if f.default is dataclasses.MISSING}
    assert {"head_lr_mult", "lr_step", "momentum", "weight_decay", "input_size", "flip", "freeze_bn"} <= required
    for stage, text, workers in commands:
        settings = json.loads(text)
        TrainSettings(**settings, workers=int(workers))  # nothing missing (workers, which change no result, apart)
        section = config["pretrain" if stage == "pretrain" else "train"]
        assert int(workers) == section["workers"], stage
        for key in required & set(section) - {"workers"}:
            assert settings[key] == section[key] or (key == "freeze_bn" and not settings[key]), (stage, key)


@pytest.mark.parametrize("given", ["seeds=0", "seeds=[0,1]"])
def test_a_list_from_the_command_line_says_to_use_a_configfile(tmp_path, given):
    """Snakemake's own message was the bare schema error and a dump of the sub-schema."""
    write_config(tmp_path, default_config())
    result = snakemake(tmp_path, "-n", "--config", given, "--", "results/demo/report.csv", check=False)
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config seeds" in message and "--configfile" in message and "seeds: [0, 1]" in message
    assert "Failed validating" not in message  # no schema dump


def test_schema_problem_names_the_key_and_passes_a_valid_config(repo):
    from workflow.configcheck import schema_problem

    config = default_config()
    assert schema_problem(config, repo / "config/schema.yaml") is None
    config["train"]["batch_size"] = "64"
    assert schema_problem(config, repo / "config/schema.yaml").startswith("config train.batch_size: '64' is not")
