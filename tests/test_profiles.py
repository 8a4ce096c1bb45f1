"""Cluster profiles: both plan the demo with a GPU and the profile's threads for every training job
(none with model.device cpu), cluster-generic submits them so, and the squeue/scontrol status
script reads SLURM's states."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, default_config, planned_jobs, snakemake, snakemake_command, write_config

STATUS = REPO / "profiles" / "cluster-generic" / "status.py"
TRAINING = ("pretrain", "train", "train_step")
# a cluster run passes no --cores; the tests' --cores 2 would cap every job's threads at 2
MANY_CORES = ("--cores", "64")


TRAIN_WORKERS = 3  # decoding processes of each train and train_step job in these plans


def demo_config(device: str) -> dict:
    config = default_config()
    config["model"]["device"] = device
    config["train"]["workers"] = TRAIN_WORKERS
    return config


def profile_threads(profile: str, rule: str) -> int:
    """The threads of a training job: the loop and its decoding workers (rules/train.smk), unless the
    profile sets the rule's own."""
    config = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    default = {"pretrain": 8, "train": 1 + TRAIN_WORKERS, "train_step": 1 + TRAIN_WORKERS}[rule]
    return config.get("set-threads", {}).get(rule, default)


def planned_job_details(dry_run_output: str) -> list[dict]:
    """Each job of a dry run: its rule, threads (1 when not shown) and resources (name -> text)."""
    jobs = []
    for line in dry_run_output.splitlines():
        if match := re.fullmatch(r"\s*(?:local)?rule (\w+):", line):  # indented in a group job
            jobs.append({"rule": match.group(1), "threads": 1, "resources": {}})
        elif jobs and (match := re.fullmatch(r"\s+threads: (\d+)", line)):
            jobs[-1]["threads"] = int(match.group(1))
        elif jobs and (match := re.fullmatch(r"\s+resources: (.*)", line)):
            jobs[-1]["resources"] = dict(item.split("=", 1) for item in match.group(1).split(", "))
    return jobs


@pytest.mark.parametrize("profile", ["slurm", "cluster-generic"])
@pytest.mark.parametrize(("device", "gpus"), [("auto", "1"), ("cpu", "0")])
def test_profile_plans_training_jobs_with_their_gpu_and_threads(tmp_path, profile, device, gpus):
    """Every pretrain, train and train_step job of the demo: one GPU (none with model.device cpu)
    and the threads the profile sets."""
    write_config(tmp_path, demo_config(device))
    result = snakemake(tmp_path, "--profile", str(REPO / "profiles" / profile), *MANY_CORES, "-n", "--",
                       "results/demo/report.csv")
    jobs = planned_jobs(result.stdout)
    assert jobs["train"] > 0 and jobs["train_step"] > 0 and jobs["pretrain"] == 1 and jobs["descriptors"] > 0
    training = [job for job in planned_job_details(result.stdout) if job["rule"] in TRAINING]
    assert len(training) == sum(jobs[rule] for rule in TRAINING)
    for job in training:
        assert job["resources"].get("gpu") == gpus, job
        assert job["threads"] == profile_threads(profile, job["rule"]), job


FAKE_SBATCH = """#!{python}
# sbatch stand-in: records its options and the job's rule (the jobscript's properties line), creates
# the job's outputs empty (a folder for a name without a suffix) and prints a job id
import json, pathlib, sys
options, script = sys.argv[1:-1], pathlib.Path(sys.argv[-1])
properties = next(line for line in script.read_text().splitlines() if line.startswith("# properties = "))
job = json.loads(properties.split(" = ", 1)[1])
for output in map(pathlib.Path, job["output"]):
    if output.suffix:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.touch()
    else:
        output.mkdir(parents=True, exist_ok=True)
with open({record!r}, "a") as record:
    record.write(json.dumps({{"rule": job["rule"], "options": options}}) + "\\n")
print(job["jobid"])
"""


def test_cluster_generic_submits_training_jobs_with_their_gpu_and_threads(tmp_path):
    """The demo through profiles/cluster-generic, every sbatch call recorded: training jobs ask
    --gpus=1 and their threads as CPUs, other jobs (gpu 0, as training jobs with model.device cpu)
    no GPU, and the submit command formats for every rule."""
    bin_folder, record = tmp_path / "bin", tmp_path / "sbatch.jsonl"
    bin_folder.mkdir()
    (bin_folder / "sbatch").write_text(FAKE_SBATCH.format(python=sys.executable, record=str(record)))
    (bin_folder / "squeue").write_text("#!/bin/sh\n")  # no job queued: status.py asks scontrol, which forgot it
    for tool in ("sbatch", "squeue"):
        (bin_folder / tool).chmod(0o755)
    workdir = tmp_path / "run"
    write_config(workdir, demo_config("auto"))
    (workdir / "profiles").symlink_to(REPO / "profiles")  # the status command's path is relative
    command, env = snakemake_command(workdir, "--profile", str(REPO / "profiles" / "cluster-generic"), *MANY_CORES,
                                     "--seconds-between-status-checks", "0", "--", "results/demo/report.csv")
    env["PATH"] = f"{bin_folder}{os.pathsep}{env['PATH']}"
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    submitted = [json.loads(line) for line in record.read_text().splitlines()]
    planned = planned_jobs(done.stdout + done.stderr)
    assert len(submitted) == sum(planned.values()) - planned.get("all", 0)
    assert {job["rule"] for job in submitted} >= {*TRAINING, "descriptors", "knn"}
    for job in submitted:
        training = job["rule"] in TRAINING
        assert [o for o in job["options"] if o.startswith("--gpus")] == (["--gpus=1"] if training else []), job
        if training:
            assert f"--cpus-per-task={profile_threads('cluster-generic', job['rule'])}" in job["options"], job


def fake_slurm(folder, squeue_state: str, scontrol_state: str | None):
    """squeue and scontrol stand-ins that print the given states for any job id."""
    folder.mkdir(exist_ok=True)
    (folder / "squeue").write_text(f"#!/bin/sh\nprintf '{squeue_state}'\n")
    shown = f"JobId=7 JobName=x JobState={scontrol_state} Reason=None" if scontrol_state else ""
    code = 0 if scontrol_state else 1
    (folder / "scontrol").write_text(f"#!/bin/sh\necho '{shown}'\nexit {code}\n")
    for tool in ("squeue", "scontrol"):
        (folder / tool).chmod(0o755)


@pytest.mark.parametrize(("squeue_state", "scontrol_state", "expected"), [
    ("PENDING\\n", None, "running"),
    ("RUNNING\\n", "RUNNING", "running"),
    ("", "COMPLETED", "success"),
    ("", "FAILED", "failed"),
    ("", "OUT_OF_MEMORY", "failed"),
    ("", "TIMEOUT", "failed"),
    ("", "CANCELLED", "failed"),
    ("", None, "success"),  # forgotten by SLURM: Snakemake checks the outputs
])
def test_status_script_maps_slurm_states(tmp_path, squeue_state, scontrol_state, expected):
    fake_slurm(tmp_path / "bin", squeue_state, scontrol_state)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, str(STATUS), "7"], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == expected
