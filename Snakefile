"""Selective joint fine-tuning (Ge & Yu, CVPR 2017) and its baselines, as a Snakemake workflow.

snakemake --cores 2 results/demo/report.csv     # the comparison tables
snakemake --cores 2 results/demo/report.html    # ... and the page with the retrieved images
snakemake --report report.zip                   # Snakemake's report of the above
"""

from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


# snakemake --report report.html (or .zip): the outputs marked report() in the rules, captioned
report: "rules/captions/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/weights.smk"
include: "rules/leakage.smk"
include: "rules/descriptors.smk"
include: "rules/retrieval.smk"
include: "rules/train.smk"
include: "rules/report.smk"
include: "rules/html.smk"


# on a cluster: the rules that download run where the network is (compute nodes often have none)
localrules:
    torchvision_export,
    fetch_weights,


rule all:
    input:
        PLAN.final_outputs(),
