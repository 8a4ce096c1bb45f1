"""bench/tune_schedule.py's verdict on its choice: the best setting minus each other, paired by fold and seed."""

import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from scipy import stats


@pytest.fixture(scope="module")
def tune():
    """bench/tune_schedule.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("tune_schedule", REPO / "bench" / "tune_schedule.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["tune_schedule"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["tune_schedule"]


def runs(per_fold: dict[str, list[float]], iterations: int = 2) -> pd.DataFrame:
    """runs.csv of 5 folds, one seed: per method, the last iteration's accuracy on each fold."""
    rows = [{"target": f"fold{k}", "method": method, "bank": "", "seed": 0, "iteration": m,
             "mean_class_acc": acc if m == iterations - 1 else 0.1}
            for method, accs in per_fold.items() for k, acc in enumerate(accs) for m in range(iterations)]
    return pd.DataFrame(rows)


def point(tune, epochs: int, per_fold: dict[str, list[float]]) -> tuple[dict, pd.Series]:
    frame = runs(per_fold)
    return tune.summarise(frame, {"train.epochs": epochs}), tune.fold_scores(frame)


def test_fold_scores_average_the_methods_of_each_fold(tune):
    scores = tune.fold_scores(runs({"finetune": [0.4, 0.5, 0.6, 0.5, 0.4], "selective": [0.6, 0.5, 0.4, 0.7, 0.6]}))
    assert scores.loc[("fold0", 0)] == pytest.approx(0.5) and scores.loc[("fold3", 0)] == pytest.approx(0.6)
    assert len(scores) == 5


def test_a_clear_choice_and_one_within_noise(tune):
    base = [0.40, 0.45, 0.50, 0.42, 0.47]
    settings = {4: [v + 0.05 for v in base], 8: [v + 0.045 - 0.02 * (k % 2) for k, v in enumerate(base)], 16: base}
    points = [point(tune, e, {"finetune": accs, "selective": accs}) for e, accs in settings.items()]
    table = tune.with_margins(pd.DataFrame([p for p, _ in points]), [s for _, s in points])
    assert table["train.epochs"].tolist() == [4, 8, 16]
    runner = table.iloc[1]
    diffs = np.subtract(settings[4], settings[8])
    expected = stats.ttest_rel(settings[4], settings[8]).confidence_interval(0.95)
    assert runner["best minus"] == pytest.approx(diffs.mean()) and runner["pairs"] == 5
    assert (runner["95% low"], runner["95% high"]) == pytest.approx((expected.low, expected.high))
    assert runner["best vs this"] == "tied" and table.iloc[2]["best vs this"] == "better"
    note = tune.choice_note(table, ["train.epochs"])
    assert note.startswith("best on validation: train.epochs 4; +1.3 points over the runner-up (train.epochs 8), "
                           "95% t interval over 5 folds x seeds [")
    assert note.endswith("within noise of the runner-up: more folds or seeds would have to decide")
    clear = tune.with_margins(pd.DataFrame([points[0][0], points[2][0]]), [points[0][1], points[2][1]])
    assert tune.choice_note(clear, ["train.epochs"]).endswith("clear of the runner-up")
