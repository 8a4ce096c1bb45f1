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
