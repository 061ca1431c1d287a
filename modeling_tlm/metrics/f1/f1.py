"""F1 score (harmonic mean of precision and recall), binary or averaged over classes.

Shipped inside `modeling_tlm` so that `evaluate.load(path_to_this_folder)` works offline (loading it by bare name would
download the module from the Hub). Same inputs and output as the Hub's `f1` metric; pass `average="macro"` for
macro-F1 (the unweighted mean of the per-class F1 scores).
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "F1 = 2 * (precision * recall) / (precision + recall), per class, then averaged as `average` says."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted labels.
    references (`list` of `int`): true labels.
    labels (`list` of `int`, optional): the classes to include (e.g. every class of the task, so a class that is
        never predicted and never present still counts as 0 in the macro mean).
    pos_label (`int`, defaults to 1): the positive class when average="binary".
    average (`str`, defaults to "binary"): "binary", "micro", "macro", "weighted" or None (per class).
    sample_weight (`list` of `float`, optional): per-example weights.
Returns:
    f1 (`float` or `list` of `float`): in [0, 1]; a list (one per class) when average=None.
"""


# `evaluate.load(folder)` copies this one file into its module cache and imports it there, as it does the Hub's
# metric scripts: the module stands alone, so its `_info` is written out here and again in ../accuracy/accuracy.py.
class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
            # computed as sklearn.metrics.f1_score(..., zero_division=0) does for single-label inputs
            # (tests/test_train_cls.py compares them), in numpy
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"],
        )

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None):
        y_pred, y_true = np.asarray(predictions), np.asarray(references)
        weights = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        present = np.union1d(y_true, y_pred)
        if average == "binary":
            if len(present) > 2:
                raise ValueError(f"average='binary' needs at most two classes, got {present.tolist()}; "
                                 "pass average='macro', 'micro' or 'weighted'")
            classes = np.asarray([pos_label])
        elif average in ("micro", "macro", "weighted", None):
            classes = present if labels is None else np.asarray(labels)
        else:
            raise ValueError(f"average={average!r}: expected 'binary', 'micro', 'macro', 'weighted' or None")
        hit = (y_pred == y_true) * weights  # (N,)
        true_positives = np.array([hit[y_true == c].sum() for c in classes])  # (C,)
        predicted = np.array([weights[y_pred == c].sum() for c in classes])  # (C,)
        actual = np.array([weights[y_true == c].sum() for c in classes])  # (C,): the support
        if average == "micro":
            true_positives, predicted, actual = true_positives.sum(), predicted.sum(), actual.sum()
        # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (predicted + actual); 0 where a class is never predicted nor present
        f1 = np.divide(2 * true_positives, predicted + actual, out=np.zeros(np.shape(actual)),
                       where=(predicted + actual) > 0)
        if average is None:
            return {"f1": f1.tolist()}
        if average == "weighted":
            return {"f1": float((f1 * actual).sum() / actual.sum()) if actual.sum() > 0 else 0.0}
        return {"f1": float(np.mean(f1))}
