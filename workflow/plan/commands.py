"""The options of a stage command, as the planner writes them into the rules' shell lines."""

from __future__ import annotations

import shlex


def cli_options(**options) -> str:
    """'--name value ...' (quoted) for a stage command; a list gives its values one after the other.

    Settings that change a result reach the job as one such string; Snakemake's params trigger
    compares a job's parameter *values* without their names, so with separate params a change
    from bins 32 to 16 went unnoticed while batch_size was 16.
    """

    def values(value):
        items = value if isinstance(value, (list, tuple)) else [value]
        return " ".join(shlex.quote(str(item)) for item in items)

    return " ".join(f"--{name.replace('_', '-')} {values(value)}" for name, value in options.items())
