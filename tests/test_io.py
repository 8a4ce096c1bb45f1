"""Output files: written atomically, and with the mode the umask gives any new file; input files: named when
unreadable, and never deleted."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import as_unprivileged

from workflow.io import UnreadableOutput, open_h5, write_csv, write_h5, write_json


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


def _shard(path, n, offset, rng=np.random.default_rng(0)) -> str:
    hist = rng.random((n, 2, 4)).astype(np.float32)  # 2 responses of 4 bins
    write_h5(path, {"hist": hist / hist.sum(2, keepdims=True), "index": np.arange(offset, offset + n)},
             {"layer_sizes": [2]})
    return str(path)


def _knn(targets, sources, out):
    from workflow.stages.retrieval import knn

    knn(targets, sources, str(out), k=2, eps=1e-4, memory_mb=64, divergence="symmetric_kl", search="exact",
        candidates=4)


@pytest.mark.parametrize("damage", ["truncated", "a csv", "missing"])
def test_an_unreadable_shard_is_named_with_the_reason_and_never_deleted(tmp_path, damage):
    """A reader must not delete what it could not read: a CSV passed by mistake as a shard is the
    user's file, a truncated shard is left for its rule (writes are atomic, so it was damaged later)."""
    targets, good = _shard(tmp_path / "target.h5", 3, 0), _shard(tmp_path / "source-0.h5", 5, 0)
    broken = tmp_path / "source-1.h5"
    if damage == "truncated":
        _shard(broken, 5, 5)
        broken.write_bytes(broken.read_bytes()[:300])
        reason = "truncated or corrupt.*delete it and rerun"
    elif damage == "a csv":
        broken = tmp_path / "my_notes.csv"
        broken.write_text("my,own\nnotes,1\n")
        reason = "not an HDF5 file"
    else:
        reason = "does not exist"
    before = broken.read_bytes() if broken.exists() else None
    with pytest.raises(UnreadableOutput, match=f"{broken} cannot be read: .*{reason}"):
        _knn([targets], [good, str(broken)], tmp_path / "knn.h5")
    assert (broken.read_bytes() if broken.exists() else None) == before
    assert not (tmp_path / "knn.h5").exists() and Path(good).exists()


def test_a_shard_this_user_may_not_read_is_named_and_kept(world_folder):
    """Mode 000 (as nobody when the tests run as root: permissions do not bind root)."""
    _shard(world_folder / "target.h5", 3, 0)
    _shard(world_folder / "source-0.h5", 5, 0)
    locked = world_folder / "source-0.h5"
    locked.chmod(0)
    script = ("from workflow.io import open_h5\n"
              f"with open_h5({str(locked)!r}) as f: pass\n")
    done = subprocess.run(as_unprivileged([sys.executable, "-c", script]), capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, check=False)
    assert done.returncode != 0
    assert f"{locked} cannot be read: permission denied" in done.stderr, done.stderr[-2000:]
    assert locked.exists() and locked.stat().st_size > 0


def test_errors_inside_the_open_file_pass_through_and_delete_nothing(tmp_path):
    path = _shard(tmp_path / "s.h5", 3, 0)
    with pytest.raises(KeyError), open_h5(path) as f:
        f["no such array"]
    with pytest.raises(OSError, match="from the caller"), open_h5(path):
        raise OSError("from the caller")
    assert Path(path).exists()


def test_checkpoint_bytes_depend_on_their_content_alone(tmp_path):
    """torch.save given a path names the archive's folder after the (random) temporary file."""
    import hashlib

    import torch

    from workflow.model import build_model, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = build_model("resnet18", {"target": ["a", "b"]}, "scratch")
    sums = set()
    for name in ("model.pt", "again/model.pt", "other.pt"):
        save_checkpoint(model, {"target": ["a", "b"]}, tmp_path / name)
        sums.add(hashlib.md5((tmp_path / name).read_bytes()).hexdigest())
    assert len(sums) == 1
    assert torch.equal(load_checkpoint(tmp_path / "other.pt")["heads"]["target"]["weight"],
                       model.heads["target"].weight)


def test_a_full_disk_while_saving_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    """torch.save turned ENOSPC into "unexpected pos", naming no file."""
    import errno
    import io as stdio

    from workflow import io

    write_torch = io.write_torch
    write_torch(tmp_path / "model.pt", {"w": np.arange(3)})
    before = (tmp_path / "model.pt").read_bytes()

    class SmallDisk(stdio.FileIO):
        def write(self, data):
            if self.tell() + len(data) > 200:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(io, "open", lambda path, mode: SmallDisk(path, mode), raising=False)
    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'model.pt'}: No space left on device") as caught:
        write_torch(tmp_path / "model.pt", {"w": np.arange(10_000)})
    assert caught.value.errno == errno.ENOSPC
    assert (tmp_path / "model.pt").read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_an_unreadable_checkpoint_says_how_to_rebuild_it(tmp_path):
    from workflow.model import load_checkpoint

    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=f"cannot read checkpoint {tmp_path / 'model.pt'}.*delete it.*--forcerun"):
        load_checkpoint(tmp_path / "model.pt")
