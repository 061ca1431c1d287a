"""`compute_metrics` for the Trainer: masked-token accuracy and perplexity (MLM); accuracy and macro-F1 (classification).

Classification metrics go through `evaluate` with the metric modules shipped in `modeling_tlm/metrics/`, loaded by
path, so they work offline (loading a metric by bare name would download the module from the Hub).
"""

import math
from pathlib import Path

import evaluate
import numpy as np
import torch
import torch.nn.functional as F
from transformers import EvalPrediction

from ..modeling_tlm import IGNORE_INDEX

METRICS_DIR = Path(__file__).resolve().parents[1] / "metrics"


def load_metric(name: str) -> evaluate.EvaluationModule:
    """A metric module shipped with the package (`accuracy`, `f1`), kept in memory (no cache files, no locks)."""
    return evaluate.load(str(METRICS_DIR / name), keep_in_memory=True)


# ------------------------------------------------------------------------------------------------------------------
# MLM
# ------------------------------------------------------------------------------------------------------------------


def mlm_logits_to_predictions(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`preprocess_logits_for_metrics` for TLMForMaskedLM: keep one prediction and one loss per masked token.

    With labels the model returns logits only for the masked positions, (N, V) in row-major order of `labels`; the
    Trainer, though, concatenates per-batch outputs along the batch axis. So scatter them back into `labels`' shape:
    the argmax predictions (B, T) and the negative log-likelihoods of the true tokens (B, T), -100 elsewhere.
    This also spares the Trainer from accumulating vocabulary-sized logits.
    """
    masked = labels != IGNORE_INDEX  # (B, T)
    if logits.dim() == 3:  # dense (B, T, V) logits, as BERT-style models return them
        logits = logits[masked]  # (N, V)
    predictions = torch.full_like(labels, IGNORE_INDEX)  # (B, T)
    predictions[masked] = logits.argmax(-1)
    nll = torch.full(labels.shape, float(IGNORE_INDEX), device=labels.device)  # (B, T)
    nll[masked] = F.cross_entropy(logits.float(), labels[masked], reduction="none")  # (N,)
    return predictions, nll


def compute_mlm_metrics(prediction: EvalPrediction) -> dict:
    """Masked-token accuracy and perplexity = exp(mean NLL over all masked tokens of the evaluation set).

    (exp(eval_loss) is close but not equal: eval_loss averages per-batch means.)
    """
    (predictions, nll), labels = prediction.predictions, prediction.label_ids  # (B, T) each
    masked = labels != IGNORE_INDEX
    if not masked.any():
        return {"accuracy": float("nan"), "perplexity": float("nan")}
    return {
        "accuracy": float((predictions[masked] == labels[masked]).mean()),
        "perplexity": float(math.exp(min(nll[masked].astype(np.float64).mean(), 700.0))),  # exp overflows past ~709
    }


# ------------------------------------------------------------------------------------------------------------------
# Classification
# ------------------------------------------------------------------------------------------------------------------


class ClassificationMetrics:
    """Accuracy and macro-F1 from the classifier's logits (B, num_labels) through the shipped `evaluate` modules."""

    def __init__(self):
        self.accuracy = load_metric("accuracy")
        self.f1 = load_metric("f1")

    def __call__(self, prediction: EvalPrediction) -> dict:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predictions, references = np.argmax(logits, axis=-1), prediction.label_ids  # (B,)
        return {
            **self.accuracy.compute(predictions=predictions, references=references),
            "macro_f1": self.f1.compute(predictions=predictions, references=references, average="macro")["f1"],
        }
