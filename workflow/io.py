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


def write_torch(path: str | os.PathLike, state: dict) -> None:
    """``torch.save`` of ``state``, atomically, into a file whose bytes depend on ``state`` alone.

    Given a path, torch names the archive's inner folder after the file, which is here the random
    temporary name, so two identical runs wrote different bytes; given an open file it names it
    ``archive``. A failed write (a full disk) reached the user as torch's "unexpected pos" with no
    path; it is raised as the OSError it was, naming ``path``.
    """
    import torch

    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            writer = _KeepsWriteError(handle)
            try:
                torch.save(state, writer)
            except RuntimeError:
                if writer.error is None:
                    raise
                raise writer.error from None
    except OSError as error:
        raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}") from error


class _KeepsWriteError:
    """A file that remembers the OSError of a failed write (torch.save replaces it by a RuntimeError)."""

    def __init__(self, handle):
        self.handle, self.error = handle, None

    def write(self, data) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


class UnreadableOutput(ValueError):
    """An earlier stage's file that cannot be read: missing, not readable by this user, not an
    HDF5 file (another file passed by mistake), or truncated (a full disk, a killed copy)."""


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _why_unreadable(path: Path, error: OSError) -> str:
    """What is wrong with a file h5py could not open, in words a user can act on."""
    if not path.exists():
        return "it does not exist"
    if not os.access(path, os.R_OK):
        return "permission denied: this user may not read it"
    with open(path, "rb") as handle:
        start = handle.read(len(HDF5_SIGNATURE))
    if start != HDF5_SIGNATURE:
        return f"it is not an HDF5 file (it begins {start!r})"
    return (f"it is truncated or corrupt ({error}); if the workflow wrote it, delete it and rerun, "
            "or force the rule that writes it (snakemake --forcerun RULE)")


@contextlib.contextmanager
def open_h5(path: str | os.PathLike):
    """An earlier stage's HDF5 file, open for reading.

    One that cannot be opened is named with the reason and left as it is: a reader never deletes
    what it could not read (the file may be the user's, or readable by another user). Outputs are
    written atomically, so a truncated one was damaged after the fact; the message says how to
    rebuild it. Errors raised while the file is open are the caller's and pass through unchanged.
    """
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise UnreadableOutput(f"{path} cannot be read: {_why_unreadable(Path(path), error)}") from error
    with handle:
        yield handle


def read_h5(path: str | os.PathLike, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Read the named arrays (all if ``names`` is None) and the attributes of an HDF5 file."""
    with open_h5(path) as f:
        out = {name: f[name][()] for name in (names or list(f.keys()))}
        out.update({f"attr:{k}": v for k, v in f.attrs.items()})
    return out
