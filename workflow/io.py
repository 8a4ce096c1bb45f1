"""Small file helpers shared by every stage: atomic writes and the on-disk formats.

Every output is first written under a temporary name in the same folder and then renamed,
so a killed job never leaves a half-written file behind that looks complete. The renamed file
gets the mode any other tool's new file would (0666 less the umask), not the temporary file's
private 0600, so that a lab's group can read a shared results folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def replace_folder(staging: Path, out: Path) -> None:
    """Put a finished folder built at ``staging`` in place of ``out`` (an old ``out`` goes first), so that
    ``out`` is complete or absent, never half-written."""
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    elif out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_json(data: dict, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())


def write_h5(path: str | os.PathLike, arrays: dict[str, np.ndarray], attrs: dict | None = None) -> None:
    """Write named arrays (and scalar attributes) to one HDF5 file, atomically."""
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, array in arrays.items():
            f.create_dataset(name, data=array)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value


class UnreadableOutput(ValueError):
    """An earlier stage's file that cannot be read (truncated by a full disk, a killed copy, ...)."""


@contextlib.contextmanager
def open_h5(path: str | os.PathLike):
    """An earlier stage's HDF5 file, open for reading.

    One that cannot be read is named and removed: it is derived data, and Snakemake would
    otherwise find it present and call the failed stage's rerun "nothing to be done".
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            yield f
    except OSError as error:
        Path(path).unlink(missing_ok=True)
        raise UnreadableOutput(f"{path} cannot be read ({error}); removed it, so that rerunning the workflow "
                               "rebuilds it") from error


def read_h5(path: str | os.PathLike, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Read the named arrays (all if ``names`` is None) and the attributes of an HDF5 file."""
    with open_h5(path) as f:
        out = {name: f[name][()] for name in (names or list(f.keys()))}
        out.update({f"attr:{k}": v for k, v in f.attrs.items()})
    return out
