"""F1 score (harmonic mean of precision and recall), binary or averaged over classes.

Shipped inside `modeling_tlm` so that `evaluate.load(path_to_this_folder)` works offline (loading it by bare name would
download the module from the Hub). Same inputs and output as the Hub's `f1` metric; pass `average="macro"` for
macro-F1 (the unweighted mean of the per-class F1 scores).
"""

import datasets
import evaluate
from sklearn.metrics import f1_score

_DESCRIPTION = "F1 = 2 * (precision * recall) / (precision + recall), per class, then averaged as `average` says."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted labels.
    references (`list` of `int`): true labels.
    labels (`list` of `int`, optional): the classes to include (e.g. every class of the task, so a class that is
        never predicted and never present still counts as 0 in the macro mean).
    pos_label (`int`, defaults to 1): the positive class when average="binary".
    average (`str`, defaults to "binary"): "binary", "micro", "macro", "weighted", "samples" or None (per class).
    sample_weight (`list` of `float`, optional): per-example weights.
Returns:
    f1 (`float` or `list` of `float`): in [0, 1]; a list (one per class) when average=None.
"""


class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"],
        )

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None):
        score = f1_score(
            references, predictions, labels=labels, pos_label=pos_label, average=average,
            sample_weight=sample_weight, zero_division=0,
        )
        return {"f1": score.tolist() if average is None else float(score)}
