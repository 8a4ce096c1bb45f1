"""Command line: ``python -m workflow <stage> ...``, one sub-command per workflow stage.

The Snakemake rules call these; each runs the same way by hand. A stage's options are its
function's parameters (``workflow/stages``): ``--name`` for parameter ``name``, the type and
default from the signature, the help from the docstring's ``Args:`` section, so the command
line cannot drift from the code it calls. ``dict`` parameters take JSON (the rules pass the
config's sections), so that every setting a rule's output depends on is in its command line.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import re
import sys
import types
import typing
from collections.abc import Callable, Sequence

from .datasets import DatasetError
from .stages import STAGES, stage_function
from .stopping import Stopped


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from error


def _boolean(text: str) -> bool:
    """true or false, in any case (the rules pass Python's True and False)."""
    if text.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
    return text.lower() == "true"


def read_docstring(function: Callable) -> tuple[str, dict[str, str]]:
    """A stage's docstring split into its text and the help of each parameter.

    The parameters are documented in a closing ``Args:`` section, one ``name: help`` line each
    (longer help continues on more deeply indented lines).
    """
    text, _, args = (inspect.getdoc(function) or "").partition("\nArgs:\n")
    helps: dict[str, str] = {}
    name = None
    for line in args.splitlines():
        entry = re.fullmatch(r"    (\w+): (.+)", line)
        if entry:
            name, helps[entry[1]] = entry[1], entry[2]
        elif line.startswith("     ") and name:
            helps[name] += " " + line.strip()
        elif line.strip():
            raise ValueError(f"{function.__qualname__}: line {line!r} of its Args section is not 'name: help'")
    return text.strip(), helps


def option_of(parameter: inspect.Parameter, hint: object) -> dict:
    """argparse keywords of one stage parameter, from its annotation and default.

    No default: a required option. ``X | None``: optional. ``list[X]``: one value or more
    (none or more with a default). ``Literal[...]``: those choices. ``dict``: JSON. ``bool``:
    true or false.
    """
    required = parameter.default is inspect.Parameter.empty
    option: dict = {"required": True} if required else {"default": parameter.default}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        (hint,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {**option, "choices": args}
    if origin in (list, tuple, Sequence):
        return {**option, "nargs": "+" if required else "*", "type": args[0]}
    if hint is dict:
        return {**option, "type": _json, "metavar": "JSON"}
    if hint is bool:
        return {**option, "type": _boolean, "metavar": "{true,false}"}
    if hint in (str, int, float):
        return {**option, "type": hint}
    raise TypeError(f"parameter {parameter.name}: no command-line form for {hint}")


def add_stage(subparsers, name: str, function: Callable) -> None:
    """The sub-command of one stage, every option from ``function``'s signature and docstring."""
    text, helps = read_docstring(function)
    parser = subparsers.add_parser(name, help=text.splitlines()[0] if text else None, description=text,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    hints, parameters = typing.get_type_hints(function), inspect.signature(function).parameters
    if set(helps) != set(parameters):
        raise ValueError(f"stage {name}: its Args section documents {sorted(helps)}, its parameters are {sorted(parameters)}")
    for parameter in parameters.values():
        option = option_of(parameter, hints[parameter.name])
        help_text = helps[parameter.name]
        if option.get("default") not in (None, (), []):
            help_text += f" (default: {option['default']})"
        parser.add_argument(f"--{parameter.name.replace('_', '-')}", help=help_text, **option)


def build_parser(stage: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``stage``, only that stage's options (only its module is imported)."""
    parser = argparse.ArgumentParser(prog="python -m workflow", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    subparsers = parser.add_subparsers(dest="stage", required=True)
    for name in STAGES:
        if stage in (None, name):
            add_stage(subparsers, name, stage_function(name))
        else:
            subparsers.add_parser(name)
    return parser


def run(args: argparse.Namespace) -> None:
    """Call the stage function with the parsed options."""
    options = {k: v for k, v in vars(args).items() if k not in ("stage", "threads")}
    stage_function(args.stage)(**options)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(next((a for a in argv if a in STAGES), None)).parse_args(argv)
    if args.threads:
        import torch  # only here: stages without torch start seconds faster

        torch.set_num_threads(args.threads)
    try:
        run(args)
    except (DatasetError, ValueError, FileNotFoundError, KeyError) as error:
        logging.getLogger("workflow").error("%s failed: %s", args.stage, error)
        return 1
    except Stopped as error:  # its state is saved: the rerun continues it
        logging.getLogger("workflow").warning("%s %s", args.stage, error)
        return 130
    return 0
