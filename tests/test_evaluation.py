"""Softmax entropy, top-1 and mean per-class accuracy, and the fusion of model outputs."""

import math

import numpy as np
import pytest

from workflow.evaluation import entropy, fuse, mean_class_accuracy, top1


def test_entropy_by_hand():
    probs = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],  # certain: 0
            [0.25, 0.25, 0.25, 0.25],  # uniform: log 4
            [0.5, 0.25, 0.25, 0.0],  # 0.5 log 2 + 2 * 0.25 log 4 = 1.5 log 2
            [0.9, 0.1, 0.0, 0.0],
        ],
        dtype=np.float32,
    )
    expected = [0.0, math.log(4), 1.5 * math.log(2), -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))]
    got = entropy(probs)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_mean_class_accuracy_weighs_classes_equally():
    # class 0: 6 images, all right; class 1: 2 images, one right
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    predictions = np.array([0, 0, 0, 0, 0, 0, 0, 1])
    assert top1(labels, predictions) == pytest.approx(7 / 8)
    assert mean_class_accuracy(labels, predictions) == pytest.approx((1.0 + 0.5) / 2)


def test_mean_class_accuracy_ignores_classes_absent_from_labels():
    labels = np.array([0, 0, 2, 2, 2])
    predictions = np.array([0, 1, 2, 1, 1])  # class 1 is only ever predicted
    assert mean_class_accuracy(labels, predictions) == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert top1(labels, predictions) == pytest.approx(2 / 5)


def test_accuracies_of_nothing_are_nan():
    empty = np.array([], dtype=np.int64)
    assert math.isnan(top1(empty, empty))
    assert math.isnan(mean_class_accuracy(empty, empty))


def test_fuse_is_the_mean_of_the_outputs():
    a = np.array([[0.9, 0.1], [0.3, 0.7]])
    b = np.array([[0.2, 0.8], [0.4, 0.6]])
    c = np.array([[0.1, 0.9], [0.5, 0.5]])
    np.testing.assert_allclose(fuse([a, b]), [[0.55, 0.45], [0.35, 0.65]])
    np.testing.assert_allclose(fuse([a, b, c]), (a + b + c) / 3)
    np.testing.assert_array_equal(fuse([a]), a)


def test_fusion_averages_probabilities_not_votes():
    confident = np.array([[0.9, 0.1]])
    unsure = np.array([[0.45, 0.55]])
    # two of three models vote for class 1, but the mean output favours class 0
    assert fuse([confident, unsure, unsure]).argmax(axis=1).tolist() == [0]
