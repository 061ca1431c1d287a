"""Accuracy: the fraction of predictions equal to their reference label.

Shipped inside `modeling_tlm` so that `evaluate.load(path_to_this_folder)` works offline (loading it by bare name
would download the module from the Hub). Same inputs and output as the Hub's `accuracy` metric.
"""

import datasets
import evaluate
from sklearn.metrics import accuracy_score

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


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"],
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        score = accuracy_score(references, predictions, normalize=normalize, sample_weight=sample_weight)
        return {"accuracy": float(score)}
