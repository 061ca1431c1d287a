"""The peer a practitioner tries first: TF-IDF features + logistic regression (scikit-learn), trained on exactly the
labelled samples train_cls.py gets for the same arguments (its own data loading), with its settings chosen on the
validation slice only.

    python -m experiments.tfidf --task_name ag_news --data_dir ../shared/data --samples_per_label_train 250 \
        --samples_per_label_test 500 --seed 0 --output_dir runs/tfidf-ag_news-s0
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from modeling_tlm.training.checks import ArgumentError
from modeling_tlm.training.commands import run_cli

from .cell_io import classification_metrics, load_data, parse, write_results

# Searched on the validation slice: word n-grams and the inverse regularisation strength (a small grid: the fits
# share two CPU cores with the rest of the experiment grid).
NGRAMS = ((1, 1), (1, 2))
C_VALUES = (1.0, 10.0, 100.0)


@dataclass
class NoArguments:
    pass


def fit(texts: list[str], labels: np.ndarray, ngram_range: tuple[int, int], c: float):
    vectorizer = TfidfVectorizer(ngram_range=ngram_range, sublinear_tf=True)
    features = vectorizer.fit_transform(texts)  # (N, vocabulary) sparse
    classifier = LogisticRegression(C=c, max_iter=2000).fit(features, labels)
    return vectorizer, classifier


def main(argv: list[str] | None = None) -> dict:
    started = time.time()
    data_args, cell, _ = parse(NoArguments, argv)
    task, _ = load_data(data_args, cell.seed)
    split = {name: (list(ds["text"]), np.asarray(ds["label"])) for name, ds in task.dataset.items()}
    if len(split["validation"][0]) == 0:
        raise ArgumentError("the task has no validation slice (--validation_split_percentage 0); "
                         "the TF-IDF settings are chosen on it")

    search = []
    for ngram_range, c in itertools.product(NGRAMS, C_VALUES):
        vectorizer, classifier = fit(*split["train"], ngram_range, c)
        scores = classifier.predict_proba(vectorizer.transform(split["validation"][0]))  # (N, C)
        accuracy = classification_metrics(scores, split["validation"][1])["accuracy"]
        search.append({"ngram_range": list(ngram_range), "C": c, "validation_accuracy": accuracy})
    best = max(search, key=lambda r: r["validation_accuracy"])  # the first best: the simplest on ties
    vectorizer, classifier = fit(*split["train"], tuple(best["ngram_range"]), best["C"])
    test = classification_metrics(classifier.predict_proba(vectorizer.transform(split["test"][0])), split["test"][1])
    results = {
        "script": "experiments.tfidf", "task": task.name, "seed": cell.seed,
        "data_sizes": {name: len(texts) for name, (texts, _) in split.items()},
        "selected": best, "search": search,
        "validation": {"eval_accuracy": best["validation_accuracy"]},
        "test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"],
        "runtime_seconds": round(time.time() - started, 1),
    }
    write_results(cell.output_dir, results)
    print(f"{task.name} seed {cell.seed}: TF-IDF + LR {best} -> test accuracy {test['accuracy']:.4f}, "
          f"macro-F1 {test['macro_f1']:.4f}")
    return results


if __name__ == "__main__":
    run_cli(main)
