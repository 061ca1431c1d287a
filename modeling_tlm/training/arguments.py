"""Command-line arguments of train_mlm.py and train_cls.py, as dataclasses for `HfArgumentParser`.

Where an argument means the same as in transformers' `run_mlm.py` / `run_classification.py`, it has the same name
(`--model_name_or_path`, `--config_name`, `--tokenizer_name`, `--dataset_name`, `--train_file`, `--max_seq_length`,
`--mlm_probability`, ...). Every field carries its `--help` text in `metadata["help"]`.
"""

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from transformers import HfArgumentParser, TrainingArguments

from ..configuration_tlm import PRESETS
from ..data import ENTITY_MARKERS, SEQUENCE_MODES, TASK_NAMES


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
                          "e.g. 'hidden_size=256,num_hidden_layers=2,num_attention_heads=4'."},
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
        metadata={"help": "'wikipedia' (from --data_dir, else the Hub's wikimedia/wikipedia) or a Hub dataset id "
                          "with a 'text' column. Or give --train_file."},
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


@dataclass
class TLMTrainingArguments(TrainingArguments):
    max_train_minutes: float | None = field(
        default=None,
        metadata={"help": "Stop training after this many minutes of this invocation (a checkpoint is saved; rerunning "
                          "the same command resumes from it)."},
    )


# Defaults that differ from TrainingArguments': the paper's optimiser settings, and model selection for fine-tuning.
# use_cpu where there is no accelerator: TrainingArguments refuses --bf16 on a CPU-only machine otherwise.
COMMON_DEFAULTS = dict(
    per_device_train_batch_size=32, per_device_eval_batch_size=64, weight_decay=0.01, logging_steps=50,
    use_cpu=not torch.accelerator.is_available(),
)
# The MLM sequences carry special_tokens_mask for the collator, which the Trainer would otherwise drop.
MLM_DEFAULTS = dict(COMMON_DEFAULTS, remove_unused_columns=False)
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
    if len(argv) == 1 and argv[0].endswith((".json", ".yaml", ".yml")):
        path = Path(argv[0])
        text = path.read_text(encoding="utf-8")
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of argument names to values, got {type(values).__name__}")
        return parser.parse_dict({**defaults, **values})
    parser.set_defaults(**defaults)
    return parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)


def arguments_dict(*args_objects) -> dict:
    """The arguments as a flat dict of plain values, tokens masked (for results.json, the card and the fingerprint)."""
    out = {}
    for obj in args_objects:
        values = obj.to_dict() if isinstance(obj, TrainingArguments) else dataclasses.asdict(obj)
        out.update(values)
    return {k: ("<hidden>" if k.endswith("token") and v else v) for k, v in out.items()}
