"""What a finished demo hands over beside its tables: every training job's curves (epochs.csv)
and Snakemake's own report of the outputs (``snakemake --report``)."""

from __future__ import annotations

import zipfile

import pandas as pd
from conftest import default_config, snakemake

from workflow.joint import EPOCH_COLUMNS


def test_every_training_job_writes_its_curves(demo_run):
    config = default_config()
    folders = sorted(path.parent for path in (demo_run / "results/demo").rglob("train.json"))
    assert folders
    for folder in folders:
        curves = pd.read_csv(folder / "epochs.csv")
        assert list(curves.columns) == EPOCH_COLUMNS, folder
        trained = curves[curves["phase"] == "train"]
        assert len(trained) == config["train"]["epochs_per_iteration"], folder
        assert trained["step"].is_monotonic_increasing and trained["target_acc"].between(0, 1).all(), folder
    pretrain = pd.read_csv(demo_run / "results/source/demo/pretrain/epochs.csv")
    assert len(pretrain) == config["pretrain"]["epochs"] and pretrain["target_acc"].isna().all()
    assert pretrain["source_acc"].between(0, 1).all()


def test_snakemake_report_holds_the_tables_and_their_captions(demo_run, tmp_path):
    archive = tmp_path / "report.zip"
    snakemake(demo_run, "--report", str(archive), "--", "results/demo/report.csv")
    with zipfile.ZipFile(archive) as report:
        names = report.namelist()
        text = "\n".join(report.read(name).decode(errors="replace") for name in names
                         if name.endswith((".html", ".js", ".json")))
    for table in ("report.csv", "runs.csv", "paired.csv", "leakage.csv", "leakage-summary.csv"):
        assert any(name.endswith(f"/{table}") for name in names), (table, names)
    assert "Selective joint fine-tuning" in text  # the workflow's description
    assert "paired difference" in text  # a caption


def test_the_page_job_reads_every_training_jobs_curves(demo_run):
    """Its inputs are the files it draws: a changed epochs.csv reruns the page."""
    config = default_config()
    plan = snakemake(demo_run, "-n", "-p", "--", "results/demo/report.html").stdout
    command = next(line for line in plan.splitlines() if "python -m workflow report-html" in line)
    drawn = command.split("--epochs ")[1].split(" --")[0].split()
    trained = len(config["methods"]) - 1 + len(config["bank"]["names"]) - 1  # fusion trains nothing; selective per bank
    assert len(drawn) == trained * len(config["seeds"]) * config["selection"]["iterations"]
    assert all(path.endswith("/epochs.csv") for path in drawn)


def test_the_report_job_declares_the_neighbour_lists_it_counts(demo_run):
    """n_pairs, mean_k and retrieval_precision come from the neighbour lists: inputs, so that a changed list reruns it."""
    plan = snakemake(demo_run, "-n", "--forcerun", "report", "--", "results/demo/report.csv").stdout
    block = plan.split("rule report:")[1]
    inputs = block.split("input: ")[1].split("\n")[0].split(", ")
    listed = {path for path in inputs if path.endswith("/neighbours.csv")}
    assert "results/demo/joint-random/seed-0/iter-2/neighbours.csv" in listed
    assert "results/demo/bank-gabor/selective/seed-0/iter-0/neighbours.csv" in listed
    assert not any("/finetune/" in path or "/fusion/" in path for path in listed)
