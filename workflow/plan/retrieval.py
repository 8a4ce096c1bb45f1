"""The retrieval jobs (rules bounds, descriptors, knn, neighbours) and the leakage audit's
(fingerprints, leakage): their inputs and settings, from the config.

Kept free of torch: the Snakefile imports it to plan jobs.
"""

from __future__ import annotations

import json

from ..backbones import LIBRARY_WEIGHTS
from ..banks import lookup as bank_spec
from ..methods import lookup as method_spec
from ..schedule import max_neighbours, resolve_sigmas
from .commands import cli_options
from .layout import SHARD, SOURCE_FINGERPRINTS, TARGET_FINGERPRINTS, Layout, fill, split_token


class RetrievalJobs(Layout):
    """Descriptors, the kNN index, each iteration's neighbour lists, and the leakage audit."""

    def k0_of(self, target: str) -> int:
        """A target's K0: its own `k0` (the paper's differs per target), else selection.k0."""
        return self.targets[target].get("k0", self.config["selection"]["k0"])

    def sigmas_of(self, target: str) -> tuple[int, int]:
        """A target's K increments: selection.sigma0/sigma1, or the paper's 4 K0 and 2 K0 of its K0."""
        selection = self.config["selection"]
        return resolve_sigmas(self.k0_of(target), selection.get("sigma0"), selection.get("sigma1"))

    def kmax_of(self, target: str) -> int:
        """The most neighbours any image of the target can reach: the length of its ranked lists."""
        return max_neighbours(self.k0_of(target), self.iterations, *self.sigmas_of(target))

    # ------------------------------------------------------------ descriptors

    def shards(self, domain: str) -> int:
        return self.config["descriptors"]["source_shards"] if domain == "source" else 1

    def descriptor_shards(self, target: str, domain: str, bank: str) -> list[str]:
        return [fill(SHARD, target=target, bank=bank, domain=domain, shard=s) for s in range(self.shards(domain))]

    def every_bank(self, pattern: str) -> list[str]:
        """``pattern`` once per bank of bank.names, in their order, its other wildcards left.

        One descriptor job per (target, domain, shard) decodes each image once and writes the shard
        of every bank: its outputs are every bank's shard file, its inputs every bank's bounds. A
        change to one bank's settings reruns that bank's bounds, then every shard job, and so the kNN
        index of every bank and what follows it."""
        return [fill(pattern, bank=bank) for bank in self.banks]

    def descriptor_manifest(self, wildcards) -> str:
        if wildcards.domain == "target":
            return self.target_manifest(wildcards.target, "train")
        return self.source_manifest(wildcards.target)

    def shards_option(self, wildcards) -> str:
        return cli_options(shards=self.shards(wildcards.domain))

    def decoding_options(self) -> str:
        """Execution settings of the decoding jobs: they change no result (a rerun after a change is harmless)."""
        descriptors = self.config["descriptors"]
        return cli_options(batch_size=descriptors["batch_size"], workers=descriptors["workers"])

    def bank_settings(self, target: str, name: str) -> dict:
        """A bank's settings (workflow/banks.py), given the run's starting model: library weights by
        name, or a checkpoint file."""
        start = self.pretrained_checkpoint(target) or self.config["model"]["init"]
        return bank_spec(name).settings(self.config, start)

    def bank_inputs(self, wildcards) -> dict:
        """A bank that takes a network's filters reads its checkpoint (when it is a file of ours), or
        the record of its library weights (the descriptor jobs read them after this job)."""
        inputs = {"manifest": self.target_manifest(wildcards.target, "train")}
        network = bank_spec(wildcards.bank).network(self.bank_settings(wildcards.target, wildcards.bank))
        if network and network not in ("alexnet", *LIBRARY_WEIGHTS):
            inputs["model"] = network
        elif network:
            inputs.update(self.weights_inputs(network))
        return inputs

    def bounds_options(self, wildcards) -> str:
        bank = self.config["bank"]
        return cli_options(
            bank=wildcards.bank,
            bank_settings=json.dumps(self.bank_settings(wildcards.target, wildcards.bank), sort_keys=True),
            bins=bank["bins"],
            intervals=bank["intervals"],
            image_size=bank["image_size"],
            jpeg_draft=self.config["descriptors"]["jpeg_draft"],  # stored in bounds.h5: the shards decode alike
        )

    def all_weights(self) -> list[str]:
        """Every fetch_weights record the configured runs need, the input of `snakemake weights`: the
        starting model of the configured methods and the networks of the banks (the same for every
        target: library weights are names, not files)."""
        starts = [self.start_model(name) for name in self.config["methods"]]
        target = next(iter(self.targets))
        starts += [bank_spec(bank).network(self.bank_settings(target, bank)) for bank in self.banks]
        return self.weights_inputs(*starts).get("weights", [])

    # ------------------------------------------------------------ the kNN index and the lists

    def knn_inputs(self, wildcards) -> dict:
        target, bank = wildcards.target, wildcards.bank
        return {"targets": self.descriptor_shards(target, "target", bank),
                "sources": self.descriptor_shards(target, "source", bank), **self.exclusion_input(target)}

    def knn_files(self, wildcards, input) -> str:
        return cli_options(exclude=input["leakage"]) if "leakage" in input.keys() else ""

    def knn_options(self, wildcards) -> str:
        retrieval = self.config["retrieval"]
        options = cli_options(k=self.kmax_of(wildcards.target), eps=retrieval["eps"],
                              divergence=retrieval["divergence"], search=retrieval["search"],
                              candidates=retrieval["candidates"])
        return f"{options} {self.exclusion_settings()}"

    def neighbour_inputs(self, wildcards) -> dict:
        """kNN borrowers: the index (+ the previous iteration's entropy and neighbour tables when mining);
        joint-random: the lists of the method it reads (selective's), whose counts it matches."""
        spec = method_spec(split_token(wildcards.run)[0])
        target, seed, iteration = wildcards.target, wildcards.seed, int(wildcards.iter)
        inputs = {"targets": self.target_manifest(target, "train")}
        if spec.borrows == "knn":
            inputs["knn"] = self.knn_index(target, split_token(wildcards.run)[1])
            if iteration > 0 and spec.mining:
                inputs.update(entropy=self.run_file(target, wildcards.run, seed, iteration - 1, "entropy.csv"),
                              previous=self.run_file(target, wildcards.run, seed, iteration - 1, "neighbours.csv"))
        else:
            inputs["pool"] = self.source_manifest(target)
            inputs["match"] = self.run_file(target, self.run_token(spec.reads), seed, iteration, "neighbours.csv")
            inputs.update(self.exclusion_input(target))
        return inputs

    # Params come in two kinds: a function of (wildcards, input) is "derived from input" for
    # Snakemake, which leaves it out of the params rerun trigger (input changes are caught as files).
    # So the input files are passed by one function and the settings by another, of wildcards only.

    def neighbour_files(self, wildcards, input) -> str:
        options = {"knn": "knn", "entropy": "entropy", "previous": "previous", "pool": "random_pool",
                   "match": "match", "leakage": "exclude"}
        return cli_options(**{option: input[key] for key, option in options.items() if key in input.keys()})

    def neighbour_settings(self, wildcards) -> str:
        """The counts' rule: k0 (iteration 0, or no mining), the entropy rule, or random lists of the kNN lists' length."""
        spec, target = method_spec(split_token(wildcards.run)[0]), wildcards.target
        if spec.borrows != "knn":
            return cli_options(length=self.kmax_of(target), seed=wildcards.seed) + f" {self.exclusion_settings()}"
        if int(wildcards.iter) > 0 and spec.mining:
            sigma0, sigma1 = self.sigmas_of(target)
            return cli_options(delta=self.config["selection"]["delta"], sigma0=sigma0, sigma1=sigma1)
        return cli_options(k0=self.k0_of(target))

    # ------------------------------------------------------------ the leakage audit

    def source_fingerprints(self, target: str) -> list[str]:
        """The fingerprint shards of a target's pool (once per pool, shared by its targets)."""
        source = self.source_of(target)
        return [fill(SOURCE_FINGERPRINTS, source=source, shard=s) for s in range(self.shards("source"))]

    def leakage_inputs(self, wildcards) -> dict:
        target = wildcards.target
        return {"train": fill(TARGET_FINGERPRINTS, target=target, split="train"),
                "test": fill(TARGET_FINGERPRINTS, target=target, split="test"),
                "sources": self.source_fingerprints(target),
                "train_manifest": self.target_manifest(target, "train"),
                "test_manifest": self.target_manifest(target, "test"),
                "source_manifest": self.source_manifest(target)}

    def leakage_settings(self) -> str:
        leakage = self.config["leakage"]
        return cli_options(threshold=leakage["threshold"], flips=leakage["flips"])
