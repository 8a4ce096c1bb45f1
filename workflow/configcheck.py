"""The config's checks: its first violation of config/schema.yaml in one line that names the key, then
the cross-key checks the schema cannot express.

Snakemake's own validation (``snakemake.utils.validate``, which also fills in the schema's
defaults) reports a violation with the whole sub-schema dumped after it; the Snakefile asks this
module first. Values given with ``--config`` reach the config as strings or single values
(``seeds=0`` is the number 0, ``seeds=[0,1]`` the strings '0' and '1'), so where the schema
wanted a list or a typed value the message says to use an overlay ``--configfile``.
"""

from __future__ import annotations

from pathlib import Path

from .banks import check_banks
from .kinds import check_kinds
from .methods import check_methods

COMMAND_LINE_HINT = ("; lists and typed values cannot come from --config (seeds=0 is a number, seeds=[0,1] two "
                     "strings): put them in a YAML file, e.g. 'seeds: [0, 1]', and add it with --configfile "
                     "(README, \"Configuration\")")


def schema_problem(config: dict, schema_path: str | Path) -> str | None:
    """'config <key>: <what is wrong>' for the most relevant violation, or None if the config is valid."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = list(validator.iter_errors(config))
    if not errors:
        return None
    # a bad value inside a section also makes every key of it "unevaluated": name the value
    named = [e for e in errors if e.validator != "unevaluatedProperties"] or errors
    error = jsonschema.exceptions.best_match(named)
    key = ".".join(map(str, error.absolute_path)) or "(top level)"
    return f"config {key}: {error.message}" + (COMMAND_LINE_HINT if _looks_typed_on_the_command_line(error) else "")


def _looks_typed_on_the_command_line(error) -> bool:
    """A scalar where a list was wanted, or a string where a number or a boolean was."""
    expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    if error.validator != "type":
        return False
    if "array" in expected and not isinstance(error.instance, list):
        return True
    return isinstance(error.instance, str) and bool({"integer", "number", "boolean"} & set(expected))


def check_config(config: dict) -> None:
    """Cross-key checks the schema cannot express (after Snakemake's validation filled in the
    defaults), each naming the key at fault."""
    targets, sources = config["targets"], config["sources"]
    for name, target in targets.items():
        if target["source"] not in sources:
            raise ValueError(
                f"config targets.{name}.source is {target['source']!r}, not one of sources: {', '.join(sources)}")
        if name in ("source", "data"):
            raise ValueError(f"config targets: {name!r} is reserved for results/{name}/")
    size = config["model"]["input_size"]
    for section in ("pretrain", "train"):
        scale = config[section]["scale_sizes"]
        if config[section]["augmentation"] == "scale" and not (scale and size <= scale[0] <= scale[1]):
            raise ValueError(f"config {section}.scale_sizes is {scale}: augmentation scale needs [shortest, longest] "
                             f"with model.input_size {size} <= shortest <= longest")
    if (config["train"]["test_resize"] or size) < size:
        raise ValueError(f"config train.test_resize is {config['train']['test_resize']}, below model.input_size {size}")
    check_kinds(config)
    check_methods(config["methods"])
    check_banks(config)
