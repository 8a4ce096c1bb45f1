"""The filter banks by name (config `bank.names`): how each one's settings come from the config.

A bank's settings are the JSON its bounds job gets (``--bank-settings``, stored in bounds.h5
and read back by the descriptor jobs); its filters are built from them by
workflow/filterbank.py's ``make_bank``. Adding a bank is one row here and its filters there
(plus its `bank.<name>` section in the config schema).

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Bank:
    """``settings(config, start)`` -> the bank's settings, ``start`` the run's starting model
    (library weights by name, or a checkpoint file); ``network(settings)`` -> the network whose
    filters it takes (a checkpoint file of ours is an input of the bounds job), None for fixed filters."""

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


BANKS: dict[str, Bank] = {
    # a Gabor bank (frequencies x orientations): its settings are bank.gabor as written
    "gabor": Bank(settings=lambda config, start: config["bank"]["gabor"]),
    # the first layers of a trained CNN (torchvision's AlexNet or the run's own starting model)
    "cnn": Bank(settings=_cnn_settings, network=lambda settings: settings["model"], check=_check_cnn),
}


def lookup(name: str) -> Bank:
    """A bank's row; an unknown name is refused with the known ones."""
    if name not in BANKS:
        raise ValueError(f"unknown filter bank {name!r} (config key bank.names); known: {', '.join(BANKS)}")
    return BANKS[name]


def check_banks(config: dict) -> None:
    """The config's `bank.names`: known banks, each with the settings it needs."""
    for name in config["bank"]["names"]:
        if name not in BANKS:
            raise ValueError(f"config bank.names: {name!r} is not a filter bank; known: {', '.join(BANKS)}")
        BANKS[name].check(config)
