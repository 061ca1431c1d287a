"""Data for tiny language models: the pre-training corpus, the classification tasks, tokenizers and token overlap.

Every loader reads either the Hugging Face Hub or local files in the datasets' official formats (a folder laid out like
../shared/data serves all of them) and returns tokenized `datasets.Dataset`s, cached by `datasets`.

    texts = load_pretraining_texts("wikipedia", data_dir="../shared/data")
    tokenizer = load_tokenizer("../shared/data/bert-base-uncased", config)
    mlm = build_mlm_datasets(texts, tokenizer, pre_train_size=40_000)          # train / validation
    task = load_task("ag_news", data_dir="../shared/data", **TASK_DEFAULTS["ag_news"])
    cls = tokenize_task(task, tokenizer)                                        # train / validation / test
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Names are imported on first use (PEP 562): `python -m modeling_tlm.data.overlap` (and .corpus, .tokenization)
# then runs its module once, without runpy's "found in sys.modules" warning, and importing the package stays cheap.
_EXPORTS = {
    "DataError": "common",
    "SEQUENCE_MODES": "corpus",
    "build_mlm_datasets": "corpus",
    "load_pretraining_texts": "corpus",
    "tokenize_documents": "corpus",
    "token_counts": "overlap",
    "token_overlap": "overlap",
    "unigram_cross_entropy": "overlap",
    "ENTITY_MARKERS": "tasks",
    "TASK_DEFAULTS": "tasks",
    "TASK_NAMES": "tasks",
    "TaskData": "tasks",
    "load_task": "tasks",
    "tokenize_task": "tasks",
    "SPECIAL_TOKENS": "tokenization",
    "add_special_tokens": "tokenization",
    "check_tokenizer_matches_config": "tokenization",
    "load_tokenizer": "tokenization",
    "special_token_ids": "tokenization",
    "tokenizer_fingerprint": "tokenization",
    "train_wordpiece_tokenizer": "tokenization",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs
    from .common import DataError
    from .corpus import SEQUENCE_MODES, build_mlm_datasets, load_pretraining_texts, tokenize_documents
    from .overlap import token_counts, token_overlap, unigram_cross_entropy
    from .tasks import ENTITY_MARKERS, TASK_DEFAULTS, TASK_NAMES, TaskData, load_task, tokenize_task
    from .tokenization import (
        SPECIAL_TOKENS,
        add_special_tokens,
        check_tokenizer_matches_config,
        load_tokenizer,
        special_token_ids,
        tokenizer_fingerprint,
        train_wordpiece_tokenizer,
    )

__all__ = sorted(_EXPORTS)
