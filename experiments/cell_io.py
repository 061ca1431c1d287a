"""What the experiment scripts (TF-IDF peer, committee, latency) share with train_cls.py: its task arguments, its
data loading (so every script sees exactly the labelled samples train_cls.py trained and tested on), its metrics,
and one results.json per cell."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modeling_tlm.training.checks import ArgumentError, check_cls_data_arguments


@dataclass
class CellArguments:
    seed: int = field(default=42, metadata={"help": "the cell's seed: train_cls.py's --seed and --data_sampling_seed (which draws the labelled sample)"})
    output_dir: str = field(default="", metadata={"help": "folder for results.json"})


def parse(extra_type, argv: list[str] | None = None):
    """(ClassificationDataArguments, CellArguments, extra_type) from the command line, with train_cls.py's defaults."""
    from transformers import HfArgumentParser

    from modeling_tlm.training import ClassificationDataArguments

    data_args, cell_args, extra = HfArgumentParser((ClassificationDataArguments, CellArguments, extra_type)) \
        .parse_args_into_dataclasses(args=argv)
    if not cell_args.output_dir:
        raise ArgumentError("--output_dir is required")
    check_cls_data_arguments(data_args)  # train_cls.py's own checks of the task arguments, before any loading
    return data_args, cell_args, extra


def load_data(data_args, seed: int, tokenizer=None):
    """train_cls.py's data loading: (TaskData, tokenized DatasetDict). `tokenizer` defaults to train_cls.py's
    default (<data_dir>/bert-base-uncased); FewRel adds its entity markers to it."""
    from modeling_tlm.training import ModelArguments
    from modeling_tlm.training.build import build_tokenizer
    from modeling_tlm.training.data import load_classification_data

    tokenizer = tokenizer or build_tokenizer(ModelArguments(), data_args)
    return load_classification_data(data_args, tokenizer, seed)


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and macro-F1 from per-class scores (B, C), through the same metric modules as train_cls.py."""
    from transformers import EvalPrediction

    from modeling_tlm.training import ClassificationMetrics

    return ClassificationMetrics()(EvalPrediction(predictions=scores, label_ids=labels))


def write_results(output_dir: str | os.PathLike, results: dict) -> Path:
    from modeling_tlm.training.files import write_json

    return write_json(Path(output_dir) / "results.json", results)
