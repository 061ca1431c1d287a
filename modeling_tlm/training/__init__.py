"""Trainer-native training of TLMs: the pieces behind train_mlm.py and train_cls.py (arguments, checks, metrics,
model card, resuming)."""

from .arguments import (
    CLS_DEFAULTS,
    MLM_DEFAULTS,
    ClassificationDataArguments,
    ClassificationModelArguments,
    DataArguments,
    MLMDataArguments,
    ModelArguments,
    TLMTrainingArguments,
    arguments_dict,
    parse_args,
)
from .card import render_model_card
from .trainer import TLMTrainer
from .checks import ArgumentError
from .metrics import ClassificationMetrics, compute_mlm_metrics, load_metric, mlm_logits_to_predictions
from .resume import FINGERPRINT_NAME, OutputDirError, RunComplete, last_complete_checkpoint, preflight_output_dir, run_fingerprint

__all__ = [
    "CLS_DEFAULTS", "MLM_DEFAULTS", "ClassificationDataArguments", "ClassificationModelArguments", "DataArguments",
    "MLMDataArguments", "ModelArguments", "TLMTrainingArguments", "arguments_dict", "parse_args", "render_model_card",
    "TLMTrainer", "ArgumentError", "ClassificationMetrics", "compute_mlm_metrics", "load_metric",
    "mlm_logits_to_predictions", "FINGERPRINT_NAME", "OutputDirError", "RunComplete", "last_complete_checkpoint",
    "preflight_output_dir", "run_fingerprint",
]
