"""Output files: written atomically, and with the mode the umask gives any new file."""

import os
import stat

import h5py
import numpy as np
import pandas as pd
import pytest

from workflow.io import write_csv, write_h5, write_json


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_outputs_respect_the_umask(tmp_path, mask):
    """The temporary file's private 0600 must not survive the rename (a group could not read results)."""
    previous = os.umask(mask)
    try:
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
        write_json({"a": 1}, tmp_path / "t.json")
        write_h5(tmp_path / "t.h5", {"a": np.arange(3)})
    finally:
        os.umask(previous)
    for name in ("t.csv", "t.json", "t.h5"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name
    with h5py.File(tmp_path / "t.h5") as f:
        assert f["a"][()].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.h5", "t.json"]  # no temporary left


def test_a_failed_write_leaves_the_old_file(tmp_path):
    write_json({"a": 1}, tmp_path / "t.json")
    with pytest.raises(TypeError):
        write_json({"a": object()}, tmp_path / "t.json")
    assert (tmp_path / "t.json").read_text().strip().endswith("}") and '"a": 1' in (tmp_path / "t.json").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_an_unreadable_shard_is_named_and_removed_so_a_rerun_rebuilds_it(tmp_path):
    """A truncated source shard stops the kNN job with its path, and is gone afterwards: Snakemake then
    rebuilds it instead of finding it present (it said "Nothing to be done" before)."""
    from workflow.io import UnreadableOutput
    from workflow.stages.retrieval import knn

    rng = np.random.default_rng(0)

    def shard(path, n, offset):
        hist = rng.random((n, 2, 4)).astype(np.float32)  # 2 responses of 4 bins
        write_h5(path, {"hist": hist / hist.sum(2, keepdims=True), "index": np.arange(offset, offset + n)},
                 {"layer_sizes": [2]})
        return str(path)

    targets = shard(tmp_path / "target.h5", 3, 0)
    good = shard(tmp_path / "source-0.h5", 5, 0)
    broken = tmp_path / "source-1.h5"
    shard(broken, 5, 5)
    broken.write_bytes(broken.read_bytes()[:300])
    with pytest.raises(UnreadableOutput, match=f"{broken} cannot be read"):
        knn([targets], [good, str(broken)], str(tmp_path / "knn.h5"), k=2, eps=1e-4, memory_mb=64, divergence="symmetric_kl", search="exact", candidates=4)
    assert not broken.exists() and not (tmp_path / "knn.h5").exists()
    assert (tmp_path / "source-0.h5").exists()
