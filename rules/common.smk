"""Shared by every rule: start-up (the package on the path, the config checked, the shell prefix),
the wildcard constraints, and the planner (workflow/plan/) whose answers the rules take.

The rules' output patterns are the planner's (workflow/plan/layout.py), their input functions and
params its methods (PLAN.*); the facts those read live in one table each: the methods in
workflow/methods.py, the filter banks in workflow/banks.py, the dataset kinds in workflow/kinds.py.
"""

import json
import os
import shlex
import sys

from snakemake.utils import validate

# The rules run `python -m workflow`; this makes the package importable without an install
# (e.g. inside the conda environment of envs/sjft.yaml), here and in every job's shell, which
# keeps Snakemake's own prefix (bash strict mode).
sys.path.insert(0, workflow.basedir)

from workflow.configcheck import check_config, schema_problem

# the first violation in one line naming the key; then Snakemake's validation fills in the
# defaults, and the cross-key checks follow
problem = schema_problem(config, os.path.join(workflow.basedir, "config", "schema.yaml"))
if problem:
    raise ValueError(problem)
validate(config, schema="../config/schema.yaml")
check_config(config)

# HDF5's file locks fail on many network file systems (NFS, Lustre) and no HDF5 file here is
# written by two processes, so jobs run without them unless HDF5_USE_FILE_LOCKING says otherwise.
# (the prefix is formatted like a shell command, hence the doubled braces)
shell.prefix(
    "set -euo pipefail; "
    f"export PYTHONPATH={shlex.quote(workflow.basedir)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
    "export HDF5_USE_FILE_LOCKING=${{HDF5_USE_FILE_LOCKING:-FALSE}}; "
    # library weights come from the library's cache only, filled by the local rule fetch_weights
    # (rules/weights.smk, workflow/weights.py): compute nodes often have no network
    "export SJFT_OFFLINE_WEIGHTS=1 HF_HUB_OFFLINE=1; "
)

# only these names: a bare `import workflow` would hide Snakemake's own `workflow` object
from workflow.kinds import DEMO_DATA, MIT_INDOOR67_DATA, PLACES_DATA, STANFORD_DOGS_DATA, TORCHVISION_DATA
from workflow.plan import Plan
from workflow.plan.commands import cli_options
from workflow.plan.layout import BOUNDS, KNN, NEIGHBOURS, SHARD, fill, one_of  # the rules' output patterns
from workflow.plan.layout import FUSION_OUTPUTS, PRETRAINED, PRETRAIN_EPOCHS, RUN_OUTPUTS
from workflow.plan.layout import LEAKAGE, LEAKAGE_SUMMARY, SOURCE_FINGERPRINTS, TARGET_FINGERPRINTS
from workflow.plan.layout import PAIRED, REPORT, REPORT_HTML, RUNS, TABLE_MD, TABLE_TEX
from workflow.plan.layout import SOURCE_MANIFEST, TARGET_MANIFEST
from workflow.stopping import forward_interrupts
from workflow.weights import FETCHED, RECORD as WEIGHTS_RECORD

# Ctrl-C, or SIGINT to Snakemake alone, reaches the running jobs: training saves its state and
# stops, and the rerun continues it (Snakemake's local executor would wait for the jobs to end).
forward_interrupts()

PLAN = Plan(config)
# the iterations whose model.pt stays (rule train) and those whose model.pt goes once read (train_step)
KEPT_ITERATIONS, TEMPORARY_ITERATIONS = PLAN.model_iterations()


wildcard_constraints:
    target=one_of(PLAN.targets),
    source=one_of(PLAN.sources),
    run=one_of(PLAN.run_tokens),
    bank=one_of(PLAN.banks),
    seed=r"\d+",
    iter=r"\d+",
    shard=r"\d+",
    domain="target|source",


def per_attempt(base):
    """A resource (mem_mb, runtime in minutes) that grows with the attempt: with --retries, a job
    killed for running out of memory or time is resubmitted asking for twice, then three times, as much."""
    return lambda wildcards, attempt: base * attempt
