"""The command line is read from the stage functions: one declaration per parameter.

Every option of ``python -m workflow <stage>`` is a parameter of the stage's function (its
name, type and default from the signature, its help from the docstring), and every command the
rules plan parses into a valid call of that function.
"""

from __future__ import annotations

import inspect
import shlex
import subprocess
import sys
from typing import Literal

import pytest

from conftest import REPO, default_config, snakemake, write_config
from workflow.cli import add_stage, build_parser, read_docstring
from workflow.stages import STAGES, stage_function


def test_every_stage_option_is_a_documented_parameter_of_its_function():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == set(STAGES)
    for name, command in commands.items():
        function = stage_function(name)
        options = {a.dest for a in command._actions if a.dest != "help"}
        assert options == set(inspect.signature(function).parameters), name
        _, helps = read_docstring(function)
        assert all(text.strip() for text in helps.values()), name


def _stage(out: str, count: int, paths: list[str], mode: Literal["a", "b"], settings: dict,
           cap: int | None = None, tags: list[str] = ()) -> None:
    """A stage for the tests.

    Args:
        out: the output
        count: how many
            (continued on a second line)
        paths: input files
        mode: a or b
        settings: JSON
        cap: optional cap
        tags: optional tags
    """


def _parser_of(function):
    import argparse

    parser = argparse.ArgumentParser()
    add_stage(parser.add_subparsers(dest="stage"), "x", function)
    return parser


def test_options_follow_the_signature():
    parser = _parser_of(_stage)
    args = vars(parser.parse_args(["x", "--out", "o", "--count", "3", "--paths", "p", "q", "--mode", "b",
                                   "--settings", '{"k": [1, 2]}']))
    assert args == {"stage": "x", "out": "o", "count": 3, "paths": ["p", "q"], "mode": "b", "settings": {"k": [1, 2]},
                    "cap": None, "tags": ()}
    assert read_docstring(_stage)[1]["count"] == "how many (continued on a second line)"
    for wrong in (["--mode", "c"], ["--count", "three"], ["--settings", "{not json"]):
        base = {"--out": "o", "--count": "3", "--paths": "p", "--mode": "a", "--settings": "{}"}
        base[wrong[0]] = wrong[1]
        with pytest.raises(SystemExit):
            parser.parse_args(["x", *[token for pair in base.items() for token in pair]])
    with pytest.raises(SystemExit):  # a parameter without a default is a required option
        parser.parse_args(["x", "--out", "o"])


def test_an_undocumented_or_stale_parameter_is_refused():
    def undocumented(out: str, count: int) -> None:
        """Text.

        Args:
            out: the output
        """

    def stale(out: str) -> None:
        """Text.

        Args:
            out: the output
            count: a parameter that was renamed
        """

    for function in (undocumented, stale):
        with pytest.raises(ValueError, match="its Args section documents"):
            _parser_of(function)


def test_every_planned_command_is_a_valid_call_of_its_stage(tmp_path):
    """The rules' shell commands (the demo's whole plan, a torchvision target validated on a
    fold, the manifests of the kinds with official lists and a fetch of library weights) parse, and
    bind to the stage functions."""
    config = default_config()
    config["targets"]["caltech"] = {"kind": "torchvision", "name": "Caltech256", "source": "demo", "train_per_class": 3,
                                    "holdout_folds": 3, "holdout_fold": 1}
    for name in ("lists/train_list.mat", "lists/test_list.mat", "TrainImages.txt", "TestImages.txt", "train.txt"):
        (tmp_path / "download" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "download" / name).touch()  # a dry run only needs the lists to exist
    config["targets"]["dogs"] = {"kind": "stanford-dogs", "root": "download", "source": "places"}
    config["targets"]["indoor"] = {"kind": "mit-indoor67", "root": "download", "source": "places"}
    config["sources"]["places"] = {"kind": "places", "root": "download", "list": "download/train.txt"}
    write_config(tmp_path, config)
    plan = snakemake(tmp_path, "-n", "-p", "--forceall", "--", "results/demo/report.html", "results/caltech/report.html",
                     "results/demo/table.tex",
                     "results/dogs/manifest/train.csv", "results/indoor/manifest/train.csv",
                     "results/source/places/manifest.csv", "results/weights/resnet18-imagenet.json").stdout
    commands = [line.split("python -m workflow ", 1)[1] for line in plan.splitlines() if "python -m workflow " in line]
    seen = set()
    for command in commands:
        argv = shlex.split(command.split(" 2> ")[0])
        stage = next(a for a in argv if a in STAGES)
        args = vars(build_parser(stage).parse_args(argv))
        args.pop("threads")
        inspect.signature(stage_function(args.pop("stage"))).bind(**args)
        seen.add(stage)
    assert seen == set(STAGES)


def test_a_stage_command_imports_only_its_module():
    """The kNN and neighbour jobs stay free of torch (seconds per job): building their command line
    imports no other stage."""
    code = ("import sys; from workflow.cli import build_parser; build_parser('knn'); build_parser('neighbours'); "
            "print(sorted({'torch', 'torchvision'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
