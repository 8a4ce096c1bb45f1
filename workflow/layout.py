"""The results layout: where each run's files live below ``results/<target>/``.

A run token names a run folder: the method (``finetune``), or ``bank-<bank>/<method>`` for
the methods that use a filter bank, so that the runs of every bank sit side by side. Below it,
a folder per seed and, for trained runs, per iteration. The rules' output patterns
(``results/{target}/{run}/seed-{seed}/iter-{iter}/...``) spell the same layout; the input
functions and the report build their paths here, and the HTML page reads them back.

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

import re
from pathlib import PurePath

BANK_PREFIX = "bank-"


def run_token(method: str, bank: str | None = None) -> str:
    """The run folder of ``method`` below results/<target>/, under its filter bank if it has one."""
    return f"{BANK_PREFIX}{bank}/{method}" if bank else method


def split_token(token: str) -> tuple[str, str]:
    """(method, bank) of a run token: ``finetune`` -> (finetune, ""), ``bank-gabor/selective`` -> (selective, gabor)."""
    if token.startswith(BANK_PREFIX):
        bank, method = token[len(BANK_PREFIX) :].split("/")
        return method, bank
    return token, ""


def run_folder(results: str, token: str, seed: int | str, iteration: int | str | None = None) -> str:
    """``<results>/<token>/seed-<seed>[/iter-<iteration>]``, ``results`` a target's results folder."""
    folder = f"{results}/{token}/seed-{seed}"
    return folder if iteration is None else f"{folder}/iter-{iteration}"


def split_run_folder(folder: str) -> tuple[str, int, int]:
    """(run token, seed, iteration) of ``.../<token>/seed-<seed>/iter-<iteration>``: ``run_folder``'s inverse.

    A token is ``bank-<bank>/<method>`` when the folder above the method's is a bank's, else the method.
    """
    parts = PurePath(folder).parts
    seed = re.fullmatch(r"seed-(\d+)", parts[-2]) if len(parts) >= 3 else None
    iteration = re.fullmatch(r"iter-(\d+)", parts[-1]) if len(parts) >= 3 else None
    if seed is None or iteration is None:
        raise ValueError(f"{folder} is not a run folder <results>/<run token>/seed-<seed>/iter-<iteration>")
    banked = len(parts) >= 4 and parts[-4].startswith(BANK_PREFIX)
    token = f"{parts[-4]}/{parts[-3]}" if banked else parts[-3]
    return token, int(seed[1]), int(iteration[1])
