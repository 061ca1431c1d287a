"""Accuracy: the fraction of predictions equal to their reference label.

Shipped inside `modeling_tlm` so that `evaluate.load(path_to_this_folder)` works offline (loading it by bare name
would download the module from the Hub). Same inputs and output as the Hub's `accuracy` metric.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Accuracy = (number of correct predictions) / (number of predictions)."
_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted labels.
    references (`list` of `int`): true labels.
    normalize (`bool`, defaults to True): False returns the number of correct predictions instead of the fraction.
    sample_weight (`list` of `float`, optional): per-example weights.
Returns:
    accuracy (`float`): in [0, 1] (or a count when normalize=False).
"""


# `evaluate.load(folder)` copies this one file into its module cache and imports it there, as it does the Hub's
# metric scripts: the module stands alone, so its `_info` is written out here and again in ../f1/f1.py.
class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
            # computed as sklearn.metrics.accuracy_score does (tests/test_train_cls.py compares them), in numpy
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"],
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        correct = np.asarray(predictions) == np.asarray(references)  # (N,)
        weights = np.ones(len(correct)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        score = (weights * correct).sum()
        return {"accuracy": float(score / weights.sum() if normalize else score)}
