"""The workflow's stages as functions from files to files, one module per rule family.

Each function reads its inputs, calls the math in the other modules and writes its outputs
atomically; ``cli.py`` exposes each as ``python -m workflow <stage>``. The modules are split
so that a stage imports only what it needs: torch and torchvision cost seconds per job.
"""

STAGES = {
    "demo-data": "data", "target-manifest": "data", "source-manifest": "data", "torchvision-export": "data",
    "bounds": "descriptors", "descriptors": "descriptors",
    "knn": "retrieval", "neighbours": "retrieval",
    "pretrain": "training", "train": "training", "fusion": "training",
    "report": "report", "report-html": "html",
}
