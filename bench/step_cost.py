"""Cost of one training step under each DTNH objective, measured side by side.

    python bench/step_cost.py [--size 32] [--batch 32] [--rounds 15] [--threads 2]

A step is forward + gradients + SGD update of ResNet-18 with a 24-class target head. The
objectives run interleaved, round after round, from the same weights and batch, so machine
noise hits them alike; the table gives each one's median step time and its ratio to the plain
regularizer it extends (DTNH's targets: dtnh-l2sp <= 1.15 x l2sp, dtnh-knowdist <= 2.2 x knowdist).
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch
from torch.nn import functional as F

from workflow.model import JointNet
from workflow.regularizers import make_regularizer, set_gradients

OBJECTIVES = {  # name: (regularizer, dtnh)
    "finetune": ("none", False),
    "l2sp": ("l2sp", False),
    "dtnh-l2sp": ("l2sp", True),
    "knowdist": ("knowdist", False),
    "dtnh-knowdist": ("knowdist", True),
}
BASELINE = {"dtnh-l2sp": "l2sp", "dtnh-knowdist": "knowdist", "l2sp": "finetune", "knowdist": "finetune"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    anchor = JointNet("resnet18", {"target": 24})
    images = torch.randn(args.batch, 3, args.size, args.size)
    labels = torch.randint(0, 24, (args.batch,))
    runs = {}
    for name, (regularizer, dtnh) in OBJECTIVES.items():
        model = copy.deepcopy(anchor).train()
        reg = make_regularizer(regularizer, model, anchor, 0.01, 0.01, ["layer1", "layer2", "layer3", "layer4"])
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
        runs[name] = (model, reg, dtnh, optimizer, [])
    for round_ in range(args.rounds + 2):  # two warm-up rounds
        for name, (model, reg, dtnh, optimizer, times) in runs.items():
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(images, "target"), labels)
            # as in joint.fit: L2-SP's gradient is analytic, a feature-map penalty is a loss
            analytic = reg if reg is not None and reg.analytic else None
            penalty = reg.penalty(images) if reg is not None and analytic is None else None
            set_gradients(model, loss, penalty, analytic, dtnh)
            optimizer.step()
            if round_ >= 2:
                times.append(time.perf_counter() - start)
    print(f"ResNet-18, {args.size} px, batch {args.batch}, {args.threads} threads, {args.rounds} interleaved rounds; "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}\n")
    print("| objective | median step (ms) | ratio | to |")
    print("| --- | --- | --- | --- |")
    medians = {name: statistics.median(run[4]) for name, run in runs.items()}
    for name, median in medians.items():
        base = BASELINE.get(name)
        ratio = f"{median / medians[base]:.2f}x" if base else ""
        print(f"| {name} | {1000 * median:.1f} | {ratio} | {base or ''} |")


if __name__ == "__main__":
    main()
