"""The filter banks by name (config `bank.names`): each one's config section and settings.

A bank's config section `bank.<name>` is checked, and its defaults filled in, by the JSON
schema of its row here. Its settings are the JSON its bounds job gets (``--bank-settings``,
stored in bounds.h5 and read back by the descriptor jobs); its filters are built from them by
workflow/filterbank.py's ``make_bank``. Adding a bank is one row here and its filters there.

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Bank:
    """``schema``: JSON schema of the bank's config section (its keys, their checks, defaults and
    descriptions); ``settings(config, start)`` -> the bank's settings, ``start`` the run's starting
    model (library weights by name, or a checkpoint file); ``network(settings)`` -> the network whose
    filters it takes (a checkpoint file of ours is an input of the bounds job), None for fixed
    filters; ``check(config)``: checks across config sections."""

    schema: dict
    settings: Callable[[dict, str], dict]
    network: Callable[[dict], str | None] = lambda settings: None
    check: Callable[[dict], None] = lambda config: None


def _cnn_settings(config: dict, start: str) -> dict:
    """bank.cnn with its network resolved (``run``: the run's starting model) and the model's arch."""
    cnn = config["bank"]["cnn"]
    return dict(cnn, model=start if cnn["model"] == "run" else cnn["model"], arch=config["model"]["arch"])


def _check_cnn(config: dict) -> None:
    if config["bank"]["cnn"]["model"] == "run" and config["model"]["init"] == "scratch":
        raise ValueError(
            "config bank.cnn.model is run, but model.init is scratch: untrained filters; "
            "set model.init or bank.cnn.model: alexnet"
        )


def _section(required: list[str], **properties: dict) -> dict:
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


BANKS: dict[str, Bank] = {
    # a Gabor bank (frequencies x orientations): its settings are bank.gabor as written
    "gabor": Bank(
        schema=_section(
            ["frequencies", "orientations"],
            frequencies={"type": "array", "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
                         "minItems": 1, "description": "cycles per pixel, one scale each"},
            orientations={"type": "integer", "minimum": 1, "description": "orientations per scale"},
            pyramid={"type": "boolean", "default": True, "description": "filter each scale at the coarsest "
                     "image-pyramid level that holds its band (false: every scale at full size)"},
        ),
        settings=lambda config, start: config["bank"]["gabor"],
    ),
    # the first layers of a trained CNN (torchvision's AlexNet or the run's own starting model)
    "cnn": Bank(
        schema=_section(
            ["model"],
            model={"type": "string", "description": "run (the run's starting model) | alexnet (torchvision's "
                   "ImageNet AlexNet) | imagenet | efficientnet-lite | a checkpoint path"},
            layers={"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                    "default": None, "description": "module names (a convolution, a block, any module with a (B, C, H, W) "
                    "output); null: the network's first two Conv2d layers"},
            activation={"type": "boolean", "default": False,
                        "description": "each layer's response after the nonlinearity that follows it (the paper's)"},
        ),
        settings=_cnn_settings,
        network=lambda settings: settings["model"],
        check=_check_cnn,
    ),
}


def lookup(name: str) -> Bank:
    """A bank's row; an unknown name is refused with the known ones."""
    if name not in BANKS:
        raise ValueError(f"unknown filter bank {name!r} (config key bank.names); known: {', '.join(BANKS)}")
    return BANKS[name]


def with_defaults(name: str, settings: dict) -> dict:
    """A copy of ``settings`` with the defaults of bank ``name``'s schema for the keys it lacks."""
    properties = lookup(name).schema["properties"]
    return {**{key: spec["default"] for key, spec in properties.items() if "default" in spec}, **settings}


def check_banks(config: dict) -> None:
    """The config's banks: `bank.names` known, and every `bank.<name>` section valid by its row's
    schema, its defaults filled in (in place, as Snakemake's schema validation does)."""
    import jsonschema  # only where a config is checked: jobs import this module too

    sections = config["bank"]
    for name in sections["names"]:
        if name not in BANKS:
            raise ValueError(f"config bank.names: {name!r} is not a filter bank; known: {', '.join(BANKS)}")
        if name not in sections:
            raise ValueError(f"config bank.{name} is missing: bank.names lists {name!r}, whose settings it holds")
    for name, section in sections.items():
        if not isinstance(section, dict):
            continue  # names, bins, ...: the config schema's
        if name not in BANKS:
            raise ValueError(f"config bank.{name}: {name!r} is not a filter bank; known: {', '.join(BANKS)}")
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(BANKS[name].schema).iter_errors(section))
        if error:
            where = "".join(f".{part}" for part in error.absolute_path)
            raise ValueError(f"config bank.{name}{where}: {error.message}")
        sections[name] = with_defaults(name, section)
    for name in sections["names"]:
        BANKS[name].check(config)
