"""Command-line arguments of train_mlm.py and train_cls.py, as dataclasses for `HfArgumentParser`.

Where an argument means the same as in transformers' `run_mlm.py` / `run_classification.py`, it has the same name
(`--model_name_or_path`, `--config_name`, `--tokenizer_name`, `--dataset_name`, `--train_file`, `--max_seq_length`,
`--mlm_probability`, ...). Every field carries its `--help` text in `metadata["help"]`, so fields are declared one by one
(`field(default=..., metadata=...)`), as in transformers' own argument dataclasses, even where they look alike.
"""

import dataclasses
import json
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from transformers import HfArgumentParser, TrainingArguments

from ..configuration_tlm import PRESETS
from ..data import ENTITY_MARKERS, SEQUENCE_MODES, TASK_NAMES
from .errors import ArgumentError


@dataclass
class ModelArguments:
    """Which model to train, and its tokenizer."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A TLM checkpoint to start from (folder or Hub id). train_mlm.py continues pre-training it; "
                          "train_cls.py keeps its encoder, drops the MLM head and adds a new classifier."},
    )
    model_preset: str | None = field(
        default=None,
        metadata={"help": f"Build a new model from a named preset: {', '.join(PRESETS)}.", "choices": list(PRESETS)},
    )
    config_name: str | None = field(
        default=None,
        metadata={"help": "Build a new model from this config (config.json file, folder or Hub id) instead of a preset."},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Override fields of the preset or --config_name config, "
                          "e.g. 'hidden_size=256,num_hidden_layers=2,num_attention_heads=4'; with "
                          "--model_name_or_path only the dropout fields (hidden_dropout_prob, "
                          "attention_probs_dropout_prob, classifier_dropout)."},
    )
    tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "Tokenizer (Hub id or folder). Default: the one saved with --model_name_or_path, else "
                          "<data_dir>/bert-base-uncased if present, else the Hub's bert-base-uncased."},
    )


@dataclass
class ClassificationModelArguments(ModelArguments):
    from_scratch: bool = field(
        default=False,
        metadata={"help": "Train --model_preset (or --config_name) from random weights: the no-pre-training baseline. "
                          "Contradicts --model_name_or_path."},
    )


@dataclass
class DataArguments:
    """Data shared by both scripts."""

    data_dir: str | None = field(
        default=None,
        metadata={"help": "Local folder holding the named datasets in their official formats (wikipedia/, ag_news/, "
                          "dbpedia_14/, fewrel/, bert-base-uncased/), e.g. ../shared/data. Without it, named "
                          "datasets come from the Hub."},
    )
    train_file: str | None = field(default=None, metadata={"help": "Training data file (or folder) instead of a named dataset."})
    validation_file: str | None = field(
        default=None, metadata={"help": "Validation data file; default: a held-out slice of the training data."}
    )
    max_seq_length: int = field(default=128, metadata={"help": "Sequence length in tokens (the paper: 128)."})
    data_sampling_seed: int = field(
        default=42,
        metadata={"help": "Seed of the data sampling: which sequences / examples per label are drawn (the paper: 42). "
                          "Separate from --seed (weights, masking, batch order), so runs with different --seed see "
                          "the same data."},
    )
    max_eval_samples: int | None = field(
        default=None,
        metadata={"help": "For quicker runs: evaluate on only the first N validation examples (never the test set)."},
    )
    preprocessing_num_workers: int | None = field(
        default=None, metadata={"help": "Processes for tokenization (datasets' num_proc)."}
    )


@dataclass
class MLMDataArguments(DataArguments):
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "'wikipedia' (from --data_dir, else the Hub's wikimedia/wikipedia); 'ag_news' or "
                          "'dbpedia_14': the task's training texts without labels, for task-adaptive pre-training "
                          "from a checkpoint (never its test file); or a Hub dataset id with a 'text' column. Or give "
                          "--train_file."},
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "Config of the Hub dataset (wikimedia/wikipedia: default 20231101.en)."}
    )
    text_column_name: str = field(default="text", metadata={"help": "Text column of table files (.csv/.jsonl/.parquet)."})
    pre_train_size: int | None = field(
        default=None,
        metadata={"help": "Number of training sequences (the paper's wiki size: 20000/40000/90000 articles with "
                          "--sequence_mode article_head). Default: all."},
    )
    sequence_mode: str = field(
        default="packed",
        metadata={"help": "'packed': documents concatenated and cut into full blocks; 'article_head': the first "
                          "max_seq_length tokens of each article, padded (the paper's protocol).",
                  "choices": list(SEQUENCE_MODES)},
    )
    validation_split_percentage: float = field(
        default=1.0,
        metadata={"help": "Percent of the sequences held out for evaluation (at least 256) when there is no "
                          "--validation_file."},
    )
    mlm_probability: float = field(default=0.15, metadata={"help": "Fraction of tokens selected for masking."})
    mask_replace_prob: float = field(
        default=0.8, metadata={"help": "Of the selected tokens, the fraction replaced by [MASK]."}
    )
    random_replace_prob: float = field(
        default=0.1, metadata={"help": "Of the selected tokens, the fraction replaced by a random token (rest: kept)."}
    )


@dataclass
class ClassificationDataArguments(DataArguments):
    task_name: str | None = field(
        default=None,
        metadata={"help": "Named task: ag_news, dbpedia_14, fewrel (from --data_dir, else the Hub), or csv/json for "
                          "generic --train_file/--test_file (default when only files are given).",
                  "choices": list(TASK_NAMES)},
    )
    test_file: str | None = field(default=None, metadata={"help": "Test data file (.csv/.json/.jsonl) with --train_file."})
    text_column_name: str | None = field(default=None, metadata={"help": "Text column of --train_file (default: text)."})
    label_column_name: str | None = field(default=None, metadata={"help": "Label column of --train_file (default: label)."})
    samples_per_label_train: int | None = field(
        default=None,
        metadata={"help": "Training examples drawn per label (seeded). Default: the paper's (ag_news 1000, "
                          "dbpedia_14 100, fewrel 630); all for files."},
    )
    samples_per_label_test: int | None = field(
        default=None,
        metadata={"help": "Test examples drawn per label (ag_news 1000, dbpedia_14 100, fewrel 70); all for files."},
    )
    use_title: bool = field(default=False, metadata={"help": "dbpedia_14: prepend the title to the content."})
    entity_markers: str = field(
        default="tokens",
        metadata={"help": "fewrel: mark entities with new special tokens [E1] [/E1] [E2] [/E2] ('tokens'; the "
                          "embeddings are resized) or with '@' and '#' ('punct').", "choices": list(ENTITY_MARKERS)},
    )
    validation_split_percentage: float = field(
        default=10.0,
        metadata={"help": "Percent of the training examples held out (per label) for model selection when there is "
                          "no --validation_file."},
    )


RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


@dataclass
class TLMTrainingArguments(TrainingArguments):
    recipe: str | None = field(
        default=None,
        metadata={"help": "A named training recipe (a YAML file in modeling_tlm/recipes/: "
                          f"{', '.join(sorted(p.stem for p in RECIPES_DIR.glob('*.yaml')))}) or a path to one. Its "
                          "values replace the defaults; flags on the command line override them."},
    )
    max_train_minutes: float | None = field(
        default=None,
        metadata={"help": "Training budget in minutes, and the length of the learning-rate schedule: the schedule "
                          "(--lr_scheduler_type, warm-up --warmup_steps as a fraction of the budget) runs on the "
                          "fraction of the budget spent and ends with it. Evaluation and saving are not charged. "
                          "A killed run resumes with its spent time; --max_steps, if given, may end it sooner."},
    )

    def __getstate__(self) -> dict:
        """The pickled copy (the Trainer's training_args.bin in every checkpoint) holds no Hub token: the token
        lives in memory only, and in the user's own credential store."""
        state = dict(self.__dict__)
        state["hub_token"] = None
        return state


# Defaults that differ from TrainingArguments': the paper's optimiser settings, and model selection for fine-tuning.
# use_cpu where there is no accelerator: TrainingArguments refuses --bf16 on a CPU-only machine otherwise.
COMMON_DEFAULTS = dict(
    per_device_train_batch_size=32, per_device_eval_batch_size=64, weight_decay=0.01, logging_steps=50,
    use_cpu=not torch.accelerator.is_available(),
    include_num_input_tokens_seen=True,  # tokens/s in the progress line of a budgeted run
)
# The MLM sequences carry special_tokens_mask for the collator, which the Trainer would otherwise drop. Two
# checkpoints are kept (the newest to resume from, and one more in case the newest is damaged), not every one.
MLM_DEFAULTS = dict(COMMON_DEFAULTS, remove_unused_columns=False, save_total_limit=2)
CLS_DEFAULTS = dict(
    COMMON_DEFAULTS,
    eval_strategy="epoch",
    save_strategy="epoch",
    load_best_model_at_end=True,
    metric_for_best_model="accuracy",
    save_total_limit=2,
)


def parse_args(dataclass_types: tuple, defaults: dict, argv: list[str] | None = None) -> tuple:
    """Parse the command line, or one .json/.yaml file given as the only argument, into the dataclasses.

    `defaults` replace the dataclasses' own defaults in both cases (and show in --help).
    """
    argv = sys.argv[1:] if argv is None else argv
    parser = HfArgumentParser(dataclass_types)
    try:
        if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
            values = read_arguments_file(Path(argv[0]))
            check_value_types(dataclass_types, values, argv[0])
            recipe, checkpoint = values.get("recipe"), values.get("model_name_or_path")
            return parser.parse_dict({**defaults, **(load_recipe(recipe, parser, checkpoint) if recipe else {}),
                                      **values})
        recipe, checkpoint = _flag_value(argv, "--recipe"), _flag_value(argv, "--model_name_or_path")
        parser.set_defaults(**{**defaults, **(load_recipe(recipe, parser, checkpoint) if recipe else {})})
        return parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    except ArgumentError:
        raise
    except (TypeError, ValueError) as e:  # TrainingArguments' own checks of the values, e.g. contradictory flags
        hint = " (--overwrite_output_dir is gone in transformers 5: a rerun resumes the run in --output_dir; to start " \
               "afresh, choose another --output_dir or delete that folder)" if "overwrite_output_dir" in str(e) else ""
        raise ArgumentError(f"{e}{hint}") from None


def _has_type(value, want: type) -> bool:
    """isinstance, as a config file means it: a bool is not a number, an int is a float."""
    if want is bool or isinstance(value, bool):
        return want is bool and isinstance(value, bool)
    return isinstance(value, (int, float) if want is float else want)


_SCALARS = (bool, int, float, str)


def check_value_types(dataclass_types: tuple, values: dict, source: str) -> None:
    """A value from a file has the type its argument declares (a YAML `max_steps: abc` would otherwise reach the
    Trainer as a string and fail there, after the data were built). Only plain and optional scalars are checked."""
    for cls in dataclass_types:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name not in values or values[f.name] is None:
                continue
            allowed = [t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None)]
            if len(allowed) != 1 or allowed[0] not in _SCALARS:
                continue
            want, value = allowed[0], values[f.name]
            if not _has_type(value, want):
                raise ArgumentError(f"{source}: {f.name}: {value!r} is not a{'n' if want is int else ''} "
                                    f"{want.__name__}")


def read_arguments_file(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise ArgumentError(f"{path}: could not read it as {path.suffix[1:].upper()}: {e}") from None
    if not isinstance(values, dict):
        raise ArgumentError(f"{path}: expected a mapping of argument names to values, got {type(values).__name__}")
    return values


def recipe_path(name_or_path: str) -> Path:
    """A recipe name (modeling_tlm/recipes/NAME.yaml) or a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    named = RECIPES_DIR / f"{name_or_path}.yaml"
    if named.is_file():
        return named
    known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
    raise ArgumentError(f"--recipe {name_or_path}: neither a YAML file nor a named recipe (known: {known})")


def recipe_values(name_or_path: str) -> dict:
    """The recipe's argument values. A value that names a file or folder beside the recipe (e.g. a tokenizer the
    recipe ships) becomes a path from the working directory, so a recipe works from any of them; relative where it
    lies below it, so that recorded commands name no machine's folders."""
    path = recipe_path(name_or_path)
    values = read_arguments_file(path)
    for key, value in values.items():
        if isinstance(value, str) and value and (path.parent / value).exists():
            found, here = (path.parent / value).resolve(), Path.cwd().resolve()
            values[key] = str(found.relative_to(here) if found.is_relative_to(here) else found)
    return values


# What a recipe says about the model: a checkpoint given with the recipe (--model_name_or_path) fixes all of it.
RECIPE_MODEL_KEYS = ("model_preset", "config_overrides", "tokenizer_name")


def recipe_model_flags(name_or_path: str) -> list[str]:
    """The recipe's architecture and tokenizer as train_cls.py flags: its from-scratch twin."""
    values = recipe_values(name_or_path)
    return [arg for key in RECIPE_MODEL_KEYS if values.get(key) is not None for arg in (f"--{key}", str(values[key]))]


def load_recipe(name_or_path: str, parser: HfArgumentParser, checkpoint: str | None = None) -> dict:
    """`recipe_values`, checked against the script's arguments. With a `checkpoint` the recipe's model keys are
    left out: the checkpoint's architecture and tokenizer stand, and the recipe gives the training (e.g. continuing
    pre-training on another corpus with the recipe's schedule)."""
    values = recipe_values(name_or_path)
    if checkpoint:
        values = {key: value for key, value in values.items() if key not in RECIPE_MODEL_KEYS}
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ArgumentError(f"{recipe_path(name_or_path)}: {', '.join(unknown)} "
                            f"{'is not an argument' if len(unknown) == 1 else 'are not arguments'} of this script "
                            "(see --help)")
    return values


def _flag_value(argv: list[str], flag: str) -> str | None:
    """The value of `flag` in `argv` (`--flag value` or `--flag=value`), the last one winning, as argparse does."""
    value = None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def arguments_dict(*args_objects) -> dict:
    """The arguments as a flat dict of plain values, tokens masked (for results.json, the card and the fingerprint)."""
    out = {}
    for obj in args_objects:
        values = obj.to_dict() if isinstance(obj, TrainingArguments) else dataclasses.asdict(obj)
        out.update(values)
    return {k: ("<hidden>" if k.endswith("token") and v else v) for k, v in out.items()}
