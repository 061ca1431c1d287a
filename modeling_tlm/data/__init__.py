"""Data for tiny language models: the pre-training corpus, the classification tasks, tokenizers and token overlap.

Every loader reads either the Hugging Face Hub or local files in the datasets' official formats (a folder laid out like
../shared/data serves all of them) and returns tokenized `datasets.Dataset`s, cached by `datasets`.

    texts = load_pretraining_texts("wikipedia", data_dir="../shared/data")
    tokenizer = load_tokenizer("../shared/data/bert-base-uncased", config)
    mlm = build_mlm_datasets(texts, tokenizer, pre_train_size=40_000)          # train / validation
    task = load_task("ag_news", data_dir="../shared/data", **TASK_DEFAULTS["ag_news"])
    cls = tokenize_task(task, tokenizer)                                        # train / validation / test

The commands (pre-training sequences, a WordPiece tokenizer, token overlap): `python -m modeling_tlm.data --help`.
"""
from .loading import DataError
from .corpus import SEQUENCE_MODES, build_mlm_datasets, load_pretraining_texts, tokenize_documents
from .overlap import token_counts, token_overlap, unigram_cross_entropy
from .tasks import (ENTITY_MARKERS, TASK_DEFAULTS, TASK_NAMES, TASK_TEXT_CORPORA, TaskData, load_task, load_task_texts,
                    tokenize_task)
from .tokenization import (
    SPECIAL_TOKENS,
    add_special_tokens,
    check_tokenizer_matches_config,
    load_tokenizer,
    special_token_ids,
    tokenizer_fingerprint,
    train_wordpiece_tokenizer,
)

__all__ = [
    "DataError", "SEQUENCE_MODES", "build_mlm_datasets", "load_pretraining_texts", "tokenize_documents",
    "token_counts", "token_overlap", "unigram_cross_entropy", "ENTITY_MARKERS", "TASK_DEFAULTS", "TASK_NAMES", "TASK_TEXT_CORPORA",
    "TaskData", "load_task", "load_task_texts", "tokenize_task", "SPECIAL_TOKENS", "add_special_tokens", "check_tokenizer_matches_config",
    "load_tokenizer", "special_token_ids", "tokenizer_fingerprint", "train_wordpiece_tokenizer",
]
