"""The HTML report page of a target: tables, charts and retrieved neighbours in one self-contained file."""

import os
import shlex


def html_class_tables(target):
    """Readable class names, where the data sets have a classes.tsv (folder name, tab, name).

    The target's is looked for in its root, the source's in its root and the root's parent
    (tiny-transfer keeps it beside source/train/).
    """
    tables = {}
    root = TARGETS[target].get("root")
    if root and os.path.exists(os.path.join(root, "classes.tsv")):
        tables["target_classes"] = os.path.join(root, "classes.tsv")
    root = SOURCES[source_of(target)].get("root")
    for folder in [root, os.path.dirname(os.path.normpath(root))] if root else []:
        if os.path.exists(os.path.join(folder, "classes.tsv")):
            tables["source_classes"] = os.path.join(folder, "classes.tsv")
            break
    return tables


def get_html_inputs(wildcards):
    """The report tables, manifests, every bank's kNN index, selective's neighbour tables (main
    bank, first seed, every iteration) and the class-name tables."""
    t = wildcards.target
    inputs = {
        "report": f"results/{t}/report.csv",
        "paired": f"results/{t}/paired.csv",
        "runs": f"results/{t}/runs.csv",
        "train": target_manifest(t, "train"),
        "source": source_manifest(t),
        "knn": [knn_index(t, bank) for bank in BANKS],
    }
    if "selective" in config["methods"]:
        seed = config["seeds"][0]
        inputs["neighbours"] = [
            f"{run_dir(t, 'selective', seed, m, bank=BANKS[0])}/neighbours.csv" for m in range(ITERATIONS)
        ]
    inputs.update(html_class_tables(t))
    return inputs


def get_html_args(wildcards, input):
    args = ""
    if "neighbours" in input.keys():
        args += " --neighbours " + " ".join(input.neighbours)
    for key in ("target_classes", "source_classes"):
        if key in input.keys():
            args += f" --{key.replace('_', '-')} {shlex.quote(input[key])}"
    return args


rule report_html:
    input:
        unpack(get_html_inputs),
    output:
        "results/{target}/report.html",
    params:
        banks=" ".join(BANKS),
        args=get_html_args,
    log:
        "logs/report_html/{target}.log",
    conda:
        "../envs/sjft.yaml"
    shell:
        "python -m workflow report-html --target {wildcards.target} --report {input.report}"
        " --paired {input.paired} --runs {input.runs} --target-manifest {input.train}"
        " --source-manifest {input.source} --banks {params.banks} --knn {input.knn}"
        " --out {output} {params.args} 2> {log}"
