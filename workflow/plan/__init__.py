"""The planner: from the validated config, every job's inputs, settings and output paths.

``rules/*.smk`` hold the rules' shape (outputs from the patterns of ``layout``, logs, resources,
the shell line) and ask the rest of ``PLAN`` (``rules/common.smk``: ``Plan(config)``), whose
methods are their input functions and params; the policy lives here, in modules of one stage
each, where unit tests call it directly instead of reading it back out of ``snakemake -n -p``:

- ``layout``: the results layout (patterns, run tokens and folders) and the facts all jobs share;
- ``data``: exports and manifests; ``retrieval``: descriptors, kNN, neighbour lists, the leakage
  audit; ``training``: pretraining, training, fusion; ``report``: the tables and the page;
- ``commands``: how settings become a stage command's options.

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

from .data import DataJobs
from .report import ReportJobs
from .retrieval import RetrievalJobs
from .training import TrainingJobs


class Plan(DataJobs, RetrievalJobs, TrainingJobs, ReportJobs):
    """Every job of one validated config (``Plan(config)``); each stage's questions in its own module."""
