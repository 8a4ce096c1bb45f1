"""Softmax entropy, accuracy, and the fusion of iteration models (paper, 3.3-3.4), in numpy.

Entropy is in nats: H(p) = -sum_c p_c log p_c. Mean per-class accuracy averages the recall of
every class present in the labels, so small classes weigh as much as large ones. Fusion
averages the softmax outputs of several models and predicts the arg-max of the average.
"""

from __future__ import annotations

import numpy as np


def entropy(probs: np.ndarray) -> np.ndarray:
    """Softmax entropy in nats per row: (n,)."""
    probs = np.clip(probs.astype(np.float64), 1e-12, 1.0)
    return -(probs * np.log(probs)).sum(axis=1)


def top1(labels: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.mean(labels == predictions)) if len(labels) else float("nan")


def mean_class_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Average over the classes present in ``labels`` of the share predicted right."""
    classes = np.unique(labels)
    return float(np.mean([np.mean(predictions[labels == c] == c) for c in classes])) if len(classes) else float("nan")


def fuse(probabilities: list[np.ndarray]) -> np.ndarray:
    """Average of several models' softmax outputs over the same images: (n, classes)."""
    return np.mean(np.stack(probabilities), axis=0)
