"""The HTML report page on synthetic inputs: tables, charts, thumbnails, escaping, self-containment."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from workflow.cli import main
from workflow.html.charts import nice_ticks
from workflow.html.curves import curves_section, join_iterations, read_epochs
from workflow.html.mining import k_summary
from workflow.html.results import paired_table
from workflow.html.neighbours import read_class_names, thumbnail_uri
from workflow.html.text import esc, pct_pm, short_name, signed
from workflow.io import write_h5
from workflow.joint import EPOCH_COLUMNS
from workflow.stages.html import report_html

TARGET_CLASSES = {"n001": "spider <b>&co, arachnid", "n002": "beetle", "n003": "snail"}
SOURCE_CLASSES = {"s01": "x<y&z", "s02": "teapot", "s03": "alp", "s04": "desk"}
ITERATIONS, SEEDS, K = 3, [0, 1, 2], 12


def _image(path, color):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), color).save(path)
    return str(path)


def _manifest(paths_labels, names):
    rows = [{"index": i, "path": p, "label": label, "class_name": names[label]} for i, (p, label) in enumerate(paths_labels)]
    return pd.DataFrame(rows)


@pytest.fixture
def inputs(tmp_path):
    """Three target classes (2 train images each), four source classes (5 each), two banks, 3 seeds."""
    rng = np.random.default_rng(0)
    target_names, source_names = list(TARGET_CLASSES), list(SOURCE_CLASSES)
    targets = _manifest([(_image(tmp_path / "target" / c / f"{i}.png", (40 * j, 80, 120)), j)
                         for j, c in enumerate(target_names) for i in range(2)], target_names)
    sources = _manifest([(_image(tmp_path / "source" / c / f"{i}.jpg", (200, 30 * j, 10 * i)), j)
                         for j, c in enumerate(source_names) for i in range(5)], source_names)
    targets.to_csv(tmp_path / "train.csv", index=False)
    sources.to_csv(tmp_path / "source.csv", index=False)
    for name, table in (("target", TARGET_CLASSES), ("source", SOURCE_CLASSES)):
        (tmp_path / f"{name}-classes.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in table.items()))

    banks = ["gabor", "cnn"]
    for bank in banks:
        ids = np.stack([rng.permutation(len(sources))[:K] for _ in range(len(targets))])
        distances = np.sort(rng.uniform(0.05, 0.5, ids.shape), axis=1)
        write_h5(tmp_path / f"knn-{bank}.h5", {"target_index": np.arange(len(targets)), "ids": ids,
                                                 "distances": distances})
    counts = [np.full(len(targets), 3), np.array([3, 7, 3, 5, 7, 3]), np.array([3, 11, 5, 7, 11, 3])]
    neighbour_files = []
    for m, k in enumerate(counts):
        rows = [(t, r, int(rng.integers(len(sources)))) for t in range(len(targets)) for r in range(k[t])]
        path = tmp_path / f"neighbours-{m}.csv"
        pd.DataFrame(rows, columns=["target_index", "rank", "source_index"]).to_csv(path, index=False)
        neighbour_files.append(str(path))

    runs = []
    base = {"finetune": 0.60, "joint-random": 0.62, "selective": 0.70, "fusion": 0.72}
    for method, level in base.items():
        for bank in (banks if method in ("selective", "fusion") else [""]):
            for seed in SEEDS:
                for m in range(ITERATIONS):
                    if method == "fusion" and m < ITERATIONS - 1:
                        continue
                    acc = level + 0.02 * m + 0.01 * seed - (0.05 if bank == "cnn" else 0)
                    runs.append({"target": "bugs", "method": method, "bank": bank, "seed": seed, "iteration": m,
                                 "top1": acc + 0.003, "mean_class_acc": acc, "n_source_images": 10 * m if bank else 0,
                                 "n_pairs": 20 * m if bank else 0, "mean_k": 3 + 2 * m if bank else 0,
                                 "train_seconds": 12.5})
    runs = pd.DataFrame(runs)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    grouped = runs.groupby(["target", "method", "bank", "iteration"], sort=False)
    report = grouped.agg(n_seeds=("seed", "nunique"), top1_mean=("top1", "mean"), top1_std=("top1", "std"),
                         mean_class_acc_mean=("mean_class_acc", "mean"), mean_class_acc_std=("mean_class_acc", "std"),
                         n_source_images=("n_source_images", "mean"), n_pairs=("n_pairs", "mean"),
                         mean_k=("mean_k", "mean"), train_seconds=("train_seconds", "mean")).reset_index()
    for column in ("retrieval_precision", "random_precision", "projected_share"):
        report[column] = np.nan
    report.loc[report["method"] == "selective", "retrieval_precision"] = 0.4321
    report.loc[report["method"] == "selective", "random_precision"] = 0.1111
    report.loc[report["bank"] == "", "bank"] = np.nan  # as read back from CSV: empty
    report.to_csv(tmp_path / "report.csv", index=False)
    seeds = {"ci_method": "t over 3 seeds", "n_image_pairs": 18, "test": "exact McNemar on top-1 over 18 image pairs",
             "boot_method": "bootstrap of 6 test images", "verdict_from": "t interval over seeds"}
    paired = pd.DataFrame([
        {"target": "bugs", "method": "selective", "bank": "gabor", "baseline": "finetune", "baseline_bank": "",
         "iteration": 2, "metric": "mean_class_acc", "n_seeds": 3, "diff_mean": 0.0346, "diff_std": 0.0123,
         "diffs": "0.02;0.05;0.0338", "wins": 3, "ci_low": 0.0041, "ci_high": 0.0651, "p_mcnemar": 0.0123,
         "boot_low": 0.01, "boot_high": 0.06, "verdict": "better", **seeds},
        {"target": "bugs", "method": "selective", "bank": "gabor", "baseline": "finetune", "baseline_bank": "",
         "iteration": 2, "metric": "top1", "n_seeds": 3, "diff_mean": -0.0211, "diff_std": 0.01,
         "diffs": "-0.03;-0.02;-0.0133", "wins": 0, "ci_low": -0.0459, "ci_high": 0.0037, "p_mcnemar": 0.0123,
         "boot_low": -0.04, "boot_high": -0.001, "verdict": "tied", **seeds},
        {"target": "bugs", "method": "selective", "bank": "gabor", "baseline": "selective", "baseline_bank": "cnn",
         "iteration": 2, "metric": "mean_class_acc", "n_seeds": 3, "diff_mean": 0.05, "diff_std": 0.0,
         "diffs": "0.05;0.05;0.05", "wins": 2, "ci_low": 0.05, "ci_high": 0.05, "p_mcnemar": 0.5,
         "boot_low": 0.0, "boot_high": 0.1, "verdict": "better", **seeds},
        {"target": "bugs", "method": "fusion", "bank": "gabor", "baseline": "finetune", "baseline_bank": "",
         "iteration": 2, "metric": "mean_class_acc", "n_seeds": 3, "diff_mean": -0.03, "diff_std": 0.002,
         "diffs": "-0.032;-0.03;-0.028", "wins": 0, "ci_low": -0.035, "ci_high": -0.025, "p_mcnemar": 0.04,
         "boot_low": -0.05, "boot_high": -0.01, "verdict": "worse", **seeds},
    ])
    paired.to_csv(tmp_path / "paired.csv", index=False)
    return {
        "dir": tmp_path, "report": str(tmp_path / "report.csv"), "paired": str(tmp_path / "paired.csv"),
        "runs": str(tmp_path / "runs.csv"), "target_manifest": str(tmp_path / "train.csv"),
        "source_manifest": str(tmp_path / "source.csv"), "banks": banks,
        "knn": [str(tmp_path / f"knn-{b}.h5") for b in banks], "neighbours": neighbour_files,
        "target_classes": str(tmp_path / "target-classes.tsv"), "source_classes": str(tmp_path / "source-classes.tsv"),
    }


def _options(inputs):
    return {k: v for k, v in inputs.items() if k != "dir"}


def _page(inputs, **options):
    out = inputs["dir"] / "report.html"
    report_html(out=str(out), **{"target_name": "bugs", **_options(inputs), **options})
    return out.read_text(encoding="utf-8")


def test_cli_writes_a_self_contained_page(inputs):
    out = inputs["dir"] / "cli" / "report.html"
    code = main(["report-html", "--target-name", "bugs", "--report", inputs["report"], "--paired", inputs["paired"],
                 "--runs", inputs["runs"], "--target-manifest", inputs["target_manifest"],
                 "--source-manifest", inputs["source_manifest"], "--banks", *inputs["banks"],
                 "--knn", *inputs["knn"], "--neighbours", *inputs["neighbours"],
                 "--target-classes", inputs["target_classes"], "--max-classes", "2",
                 "--epochs", *_epoch_files(inputs["dir"] / "results" / "bugs"), "--out", str(out)])
    assert code == 0
    html = out.read_text(encoding="utf-8")
    assert '<h2 id="training">Training curves</h2>' in html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<style>" in html
    # nothing to fetch: no scripts, no stylesheets, every image inline
    assert "<script" not in html and "<link" not in html
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)
    assert all(src.startswith("data:image/jpeg;base64,") for src in re.findall(r'<img src="([^"]*)"', html))
    assert "Showing 2 of 3 classes" in html


def test_cli_refuses_mismatched_banks(inputs):
    code = main(["report-html", "--target-name", "bugs", "--report", inputs["report"],
                 "--target-manifest", inputs["target_manifest"], "--source-manifest", inputs["source_manifest"],
                 "--banks", "gabor", "--knn", *inputs["knn"], "--out", str(inputs["dir"] / "x.html")])
    assert code == 1
    assert not (inputs["dir"] / "x.html").exists()


def test_results_and_paired_tables_hold_the_values(inputs):
    html = _page(inputs)
    report = pd.read_csv(inputs["report"])
    selective = report[(report["method"] == "selective") & (report["bank"] == "gabor") & (report["iteration"] == 2)].iloc[0]
    # last iteration, in percent: mean and std
    assert f"{100 * selective['mean_class_acc_mean']:.1f}" in html
    assert f"± {100 * selective['mean_class_acc_std']:.1f}" in html
    assert f"{100 * selective['top1_mean']:.1f}" in html
    assert "0.43" in html and "(0.11)" in html  # retrieval precision beside the random one
    # the selective rows are highlighted, best first ordering puts fusion [gabor] on top
    results = html.split('id="results"')[1].split('id="paired"')[0]
    assert results.count('<tr class="main"') == 2
    methods = re.findall(r'<td class="l method">.*?</span> ([^<]+)</td>', results)
    assert methods[0] == "fusion" and methods[-1] == "finetune"
    # paired differences: signed percentage points, the 95% interval, wins, verdict, McNemar's p and the seeds
    paired = html.split('id="paired"')[1].split('id="curves"')[0]
    assert ">+3.5<" in paired and "[+0.4, +6.5]" in paired and "3/3" in paired
    assert ">-2.1<" in paired and "[-4.6, +0.4]" in paired and "0/3" in paired
    assert re.findall(r'<span class="(\w+)" title="t interval over seeds">(\w+)</span>', paired) == [
        ("pos", "better"), ("zero", "tied"), ("pos", "better"), ("neg", "worse")]
    assert "<td>0.012</td>" in paired and "<td>0.04</td>" in paired
    assert "+2.0, +5.0, +3.4" in paired
    assert "selective [cnn]" in paired and "fusion [gabor]" in paired  # fusion's rows beside selective's
    # the forest plot draws the interval as a whisker with two end caps, not the std bar
    assert "<rect" not in paired and paired.count('y1="5.0" y2="13.0"') >= 2 * 4
    # the key figure: selective (not fusion) minus finetune, with its interval and verdict
    card = html.split('class="cards"')[1].split("</div></div></div>")[0]
    assert "+3.5" in card and "[+0.4, +6.5]" in card and "<b>better</b>" in card


def test_one_seed_shows_the_image_level_interval():
    row = {"target": "t", "method": "selective", "bank": "gabor", "baseline": "finetune", "baseline_bank": "",
           "iteration": 1, "metric": "mean_class_acc", "n_seeds": 1, "diff_mean": 0.02, "diff_std": np.nan,
           "diffs": "0.02", "wins": 1, "ci_low": np.nan, "ci_high": np.nan, "ci_method": "none: 1 seed",
           "n_image_pairs": 600, "p_mcnemar": 0.2, "test": "exact McNemar on top-1 over 600 image pairs",
           "boot_low": -0.011, "boot_high": 0.052, "boot_method": "bootstrap of 600 test images",
           "verdict": "tied", "verdict_from": "bootstrap over test images"}
    table = paired_table(pd.DataFrame([row]))
    assert "[-1.1, +5.2]" in table and ">tied</span>" in table and "<td>0.2</td>" in table
    table = paired_table(pd.DataFrame([{**row, "boot_low": np.nan, "boot_high": np.nan, "verdict": "untested"}]))
    assert "[" not in table.split("<tbody>")[1].split("</tbody>")[0] and ">untested</span>" in table


def test_charts_are_inline_svg(inputs):
    html = _page(inputs)
    curves = html.split('id="curves"')[1].split('id="k"')[0]
    assert curves.count("<svg") == 2 and "Mean-class accuracy" in curves and "Top-1 accuracy" in curves
    assert "<polyline" in curves and "<polygon" in curves  # lines and std bands
    assert 'stroke="#d62728" stroke-width="3.2"' in curves  # selective drawn bold in red
    k = html.split('id="k"')[1].split('id="neighbours-0"')[0]
    assert "<svg" in k and "K per target image" in k
    # the K table: pairs per iteration and the share of images that grew
    assert "<td>18</td>" in k and "<td>40</td>" in k and "67 %" in k


def test_one_thumbnail_per_target_and_neighbour(inputs):
    html = _page(inputs)
    n_classes, banks, top = 3, 2, 8
    assert html.count("<img ") == banks * n_classes * (1 + top)
    assert html.count('class="target"') == banks * n_classes
    html = _page(inputs, max_classes=2, per_class=2, top=5)
    assert html.count("<img ") == banks * 2 * 2 * (1 + 5)
    # the neighbour tables give the K trail of the main bank's targets only
    assert html.count('class="k"') == 2 * 2
    assert "K 3→7→11" in html


def test_neighbour_grid_shows_distances_in_rank_order(inputs):
    from workflow.io import read_h5

    html = _page(inputs, banks=["gabor"], knn=inputs["knn"][:1], max_classes=1)
    knn = read_h5(inputs["knn"][0])
    shown = [float(v) for v in re.findall(r'<span class="d">([^<]+)</span>', html)]
    np.testing.assert_allclose(shown, knn["distances"][0, :8], rtol=1e-2)
    sources = pd.read_csv(inputs["source_manifest"])
    first = sources.loc[knn["ids"][0, 0], "class_name"]
    assert f"#1: {esc(SOURCE_CLASSES[first])} ({first})" in html


def test_class_names_are_escaped(inputs):
    html = _page(inputs)
    assert "spider &lt;b&gt;&amp;co" in html
    assert "<b>&co" not in html
    assert "spider <b>" not in html
    assert "x&lt;y&amp;z" in html
    assert "x<y&z" not in html
    html = _page(inputs, target_name='bugs <i>"&', target_classes=None, source_classes=None)
    assert "bugs &lt;i&gt;&quot;&amp;" in html and "<i>" not in html
    # without class tables the folder names are shown
    assert "n001" in html


def test_page_without_optional_inputs(inputs):
    html = _page(inputs, paired=None, runs=None, neighbours=[], target_classes=None, source_classes=None)
    assert "No paired differences" in html and "No neighbour tables" in html
    assert html.count("<img ") == 2 * 3 * 9


def test_missing_image_is_a_placeholder(inputs):
    sources = pd.read_csv(inputs["source_manifest"])
    sources["path"] = sources["path"] + ".gone"
    sources.to_csv(inputs["source_manifest"], index=False)
    html = _page(inputs)
    assert html.count("<img ") == 2 * 3  # the targets only
    assert html.count('class="missing"') == 2 * 3 * 8


def test_thumbnail_is_a_square_jpeg(tmp_path):
    uri = thumbnail_uri(_image(tmp_path / "a.png", (10, 200, 30)), size=32)
    assert uri.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.format == "JPEG" and image.size == (32, 32)
    assert thumbnail_uri(str(tmp_path / "nothing.png")) is None


def test_small_helpers():
    np.testing.assert_allclose(nice_ticks(21.3, 24.9), [21, 22, 23, 24, 25])
    ticks = nice_ticks(0, 140)
    assert ticks[0] == 0 and ticks[-1] >= 140 and len(ticks) <= 6
    assert signed(-0.04) == "0.0" and signed(1.26) == "+1.3" and signed(-2) == "-2.0"
    assert pct_pm(0.5, 0.01, 1) == "50.0"
    assert short_name("black widow, Latrodectus mactans") == "black widow"
    summary = k_summary([np.array([2, 2, 2]), np.array([2, 6, 4])])
    assert summary["pairs"].tolist() == [6, 12]
    assert summary.loc[1, "max"] == 6 and summary.loc[1, "median"] == 4
    assert np.isnan(summary.loc[0, "grew"]) and summary.loc[1, "grew"] == pytest.approx(2 / 3)


def test_read_class_names(tmp_path):
    path = tmp_path / "classes.tsv"
    path.write_text("n01\tblack widow, Latrodectus mactans\nn02\ttrilobite\n\n")
    assert read_class_names(str(path)) == {"n01": "black widow, Latrodectus mactans", "n02": "trilobite"}
    assert read_class_names(None) == {}


def _leakage_tables(inputs, pairs):
    """leakage.csv with ``pairs`` (split, target row, source row, distance, kind, flipped) and its summary."""
    targets, sources = pd.read_csv(inputs["target_manifest"]), pd.read_csv(inputs["source_manifest"])
    rows = [{"split": split, "target_index": t, "target_path": targets["path"][t], "source_index": s,
             "source_path": sources["path"][s], "distance": d, "kind": kind, "flipped": flipped}
            for split, t, s, d, kind, flipped in pairs]
    table = pd.DataFrame(rows, columns=["split", "target_index", "target_path", "source_index", "source_path",
                                        "distance", "kind", "flipped"])
    table.to_csv(inputs["dir"] / "leakage.csv", index=False)
    summary = pd.DataFrame([{"split": split, "images": 6, "images_duplicated": table.loc[table["split"] == split, "target_index"].nunique(),
                             "pairs": int((table["split"] == split).sum()), "exact_pairs": 0, "flipped_pairs": 0,
                             "source_images": table.loc[table["split"] == split, "source_index"].nunique()}
                            for split in ("train", "test")])
    summary.to_csv(inputs["dir"] / "leakage-summary.csv", index=False)
    return {"leakage": str(inputs["dir"] / "leakage.csv"), "leakage_summary": str(inputs["dir"] / "leakage-summary.csv")}


def test_the_leakage_section_shows_pairs_test_first_and_what_was_kept_out(inputs):
    files = _leakage_tables(inputs, [("train", 1, 4, 2, "near", False), ("test", 0, 3, 0, "exact", False),
                                     ("test", 2, 3, 6, "near", True)])
    html = _page(inputs, **files, exclude_splits=["test"], pretraining_pool=True)
    assert '<a href="#leakage">' in html
    section = html.split('id="leakage"')[1].split("<footer")[0]
    assert "<b>1 source image</b> duplicating a test image." in section
    assert "the source images paired here with 2 test images" in section  # the backbone saw them
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", section)
    assert captions == ["test 0", "source 3", "test 2", "source 3", "train 1", "source 4"]
    assert "identical" in section and "6 bits, mirrored" in section
    quiet = _page(inputs, **_leakage_tables(inputs, []), exclude_splits=[], pretraining_pool=True)
    assert "No source image duplicates a target image" in quiet and "Warning" not in quiet
    assert "Nothing was kept out" in quiet
    assert 'id="leakage"' not in _page(inputs)  # no audit given: no section


def _epoch_files(root, tokens=("finetune", "bank-gabor/selective"), seeds=(0, 1), iterations=2, epochs=3, warmup=2,
                 numbering_on=False):
    """Made-up epochs.csv of runs below ``root``: ``warmup`` warm-up epochs before iteration 0, ``epochs`` per
    iteration numbered from 1 in each (or on over the run), the target loss 1 / (run epoch) + seed / 10, a
    source head for the banked (joint) runs."""
    paths = []
    for token in tokens:
        joint = token.startswith("bank-")
        for seed in seeds:
            for m in range(iterations):
                rows = [{"phase": "warmup", "epoch": e, "target_loss": 3.0 + seed / 10, "target_acc": 0.1}
                        for e in range(1, warmup + 1)] if m == 0 else []
                for e in range(1, epochs + 1):
                    run_epoch = m * epochs + e
                    rows.append({"phase": "train", "epoch": run_epoch if numbering_on else e,
                                 "target_loss": 1 / run_epoch + seed / 10, "target_acc": 0.5 + run_epoch / 20})
                frame = pd.DataFrame(rows).reindex(columns=EPOCH_COLUMNS)
                frame["step"], frame["lr"], frame["images_per_s"] = frame["epoch"] * 2, 0.01, 100.0
                frame["loss"] = frame["target_loss"]
                if joint:
                    frame["source_loss"], frame["source_acc"] = 2.0 - seed / 10, 0.3
                folder = root / token / f"seed-{seed}" / f"iter-{m}"
                folder.mkdir(parents=True)
                frame.to_csv(folder / "epochs.csv", index=False)
                paths.append(str(folder / "epochs.csv"))
    return paths


def test_read_epochs_takes_method_bank_seed_and_iteration_from_the_path(tmp_path):
    paths = _epoch_files(tmp_path / "results" / "bugs")
    epochs = read_epochs(paths)
    assert list(epochs.columns) == ["method", "bank", "seed", "iteration", *EPOCH_COLUMNS]
    runs = epochs.drop_duplicates(["method", "bank", "seed", "iteration"])
    assert list(zip(runs["method"], runs["bank"], runs["seed"], runs["iteration"])) == [
        ("finetune", "", 0, 0), ("finetune", "", 0, 1), ("finetune", "", 1, 0), ("finetune", "", 1, 1),
        ("selective", "gabor", 0, 0), ("selective", "gabor", 0, 1), ("selective", "gabor", 1, 0),
        ("selective", "gabor", 1, 1)]
    assert len(epochs) == 2 * 2 * (2 + 2 * 3)  # methods x seeds x (warm-up + iterations x epochs)
    assert epochs.loc[epochs["method"] == "finetune", "source_loss"].isna().all()
    assert read_epochs([]).empty
    with pytest.raises(ValueError, match="not a run folder"):
        read_epochs([str(tmp_path / "results" / "bugs" / "finetune" / "seed-0" / "epochs.csv")])
    bad = tmp_path / "results" / "bugs" / "l2sp" / "seed-0" / "iter-0"
    bad.mkdir(parents=True)
    pd.DataFrame({"epoch": [1], "loss": [0.5]}).to_csv(bad / "epochs.csv", index=False)
    with pytest.raises(ValueError, match="no column phase"):
        read_epochs([str(bad / "epochs.csv")])


@pytest.mark.parametrize("numbering_on", [False, True])
def test_iterations_join_into_one_run_after_the_warm_up(tmp_path, numbering_on):
    """Iteration 1 follows iteration 0 whether its epochs start again at 1 or number on; the warm-up ends at 0."""
    epochs = read_epochs(_epoch_files(tmp_path, tokens=("finetune",), numbering_on=numbering_on))
    joined = join_iterations(epochs[epochs["seed"] == 0])
    assert joined["x"].tolist() == [-1, 0, 1, 2, 3, 4, 5, 6]
    assert joined["iteration"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def _section(html):
    return html.split('id="training"')[1].split('id="k"')[0]


def test_the_training_curves_join_iterations_and_draw_the_spread_of_seeds(inputs):
    paths = _epoch_files(inputs["dir"] / "results" / "bugs")
    pretrain = inputs["dir"] / "pretrain-epochs.csv"
    pd.DataFrame([{"phase": "train", "epoch": e, "loss": 2 / e, "source_loss": 2 / e, "source_acc": e / 5}
                  for e in range(1, 5)]).reindex(columns=EPOCH_COLUMNS).to_csv(pretrain, index=False)
    html = _page(inputs, epochs=paths, pretrain_epochs=str(pretrain))
    assert '<a href="#training">Training curves</a>' in html
    section = _section(html)
    grids = section.split("<h3>")[1:]
    assert [g.split("</h3>")[0] for g in grids] == ["Target loss", "Target accuracy on the training images (%)",
                                                     "Source loss (methods that borrow source images)",
                                                     "Pretraining on the source pool"]
    # a panel per method with target heads, selective alone with a source head, and the pretraining's two
    assert [g.count("<svg") for g in grids] == [2, 2, 1, 2]
    target_loss = grids[0]
    # the report's order, and its names: it has two banks of selective
    assert target_loss.index(">finetune</text>") < target_loss.index(">selective [gabor]</text>")
    # the tooltips at the ends of the iterations: iteration 1 ends at the run's epoch 6, after iteration 0's 3,
    # the mean over seeds (1 / epoch + 0.05) between the seeds' min and max
    tips = re.findall(r"<circle cx=\"([\d.]+)\"[^>]*><title>selective \[gabor\], ([^<]+)</title>", target_loss)
    assert [t for _, t in tips] == [
        "warm-up, epoch 0: 3.050 (min 3.000, max 3.100 over 2 seeds)",
        "iteration 0, epoch 3: 0.383 (min 0.333, max 0.433 over 2 seeds)",
        "iteration 1, epoch 6: 0.217 (min 0.167, max 0.267 over 2 seeds)"]
    xs = [float(x) for x, _ in tips]
    assert xs[0] < xs[1] < xs[2]
    panel = target_loss.split("<svg")[2]  # selective's
    assert panel.count("<polygon") == 2  # the min-max bands: warm-up and training
    assert 'fill="#eef1f4"' in panel and 'stroke-dasharray="4 3"' in panel  # the warm-up: grey band, dashed line
    assert panel.count('stroke-dasharray="3 3"') == 1  # the boundary between its two iterations
    assert ">it. 0</text>" in panel and ">it. 1</text>" in panel
    finetune = target_loss.split("<svg")[1]
    assert 'stroke-dasharray="1.5 2"' in panel and 'stroke-dasharray="1.5 2"' not in finetune  # it, for reference
    assert "lowest to the highest seed" in section and "the warm-up" in section


def test_no_epochs_no_training_curves(inputs):
    html = _page(inputs)
    assert 'id="training"' not in html and "#training" not in html


def test_one_seed_draws_no_band(tmp_path):
    epochs = read_epochs(_epoch_files(tmp_path, tokens=("finetune",), seeds=(3,), warmup=0))
    section = curves_section(epochs)
    assert section.count("<svg") == 2 and "<polygon" not in section and "<polyline" in section
    assert "one seed, so no band" in section and "warm-up" not in section
    assert curves_section(read_epochs([])) == ""
