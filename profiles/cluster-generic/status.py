#!/usr/bin/env python3
"""Snakemake cluster-generic status command for SLURM without accounting: prints running, success or failed.

    status.py JOBID

squeue knows a job while it is pending or running; after it leaves the queue, scontrol still
reports its final state for the cluster's MinJobAge (300 s by default). A job neither knows is
reported as success: Snakemake then checks its outputs, so a lost failure still fails the job.
"""

import subprocess
import sys

RUNNING = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "STAGE_OUT"}


def state(job: str) -> str:
    queued = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, check=False)
    if queued.returncode == 0 and queued.stdout.strip():
        return queued.stdout.split()[0]
    shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, check=False)
    for field in shown.stdout.split():
        if field.startswith("JobState="):
            return field.split("=", 1)[1]
    return "COMPLETED"


def main() -> None:
    current = state(sys.argv[1])
    print("running" if current in RUNNING else "success" if current == "COMPLETED" else "failed")


if __name__ == "__main__":
    main()
