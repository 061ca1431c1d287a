"""Tokenizers: load one (Hub id or folder), check it against a model config, or train a small WordPiece vocabulary.

Tiny models spend most of their parameters on the embedding table (30,522 x hidden for bert-base-uncased), so a
smaller vocabulary trained on the pre-training corpus is a real design option; :func:`train_wordpiece_tokenizer` makes
one that loads with `AutoTokenizer` like any other and is saved next to the model.

Command line::

    python -m modeling_tlm.data tokenizer --data_dir ../shared/data --vocab_size 8000 --output_dir tok-8k
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ..configuration_tlm import SPECIAL_TOKEN_ID_FIELDS
from .loading import DataError, fingerprint

logger = logging.getLogger(__name__)

# BERT's special tokens, in the order a trained vocabulary gets them: [PAD] is id 0 (the embedding padding_idx).
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Config attribute -> tokenizer attribute; these ids must agree or the model reads the wrong embedding rows.


def load_tokenizer(name_or_path: str | os.PathLike, config: Any = None, **kwargs) -> PreTrainedTokenizerBase:
    """Load a tokenizer with `AutoTokenizer.from_pretrained` (Hub id such as "bert-base-uncased", or a folder), and,
    when `config` is given, check it with :func:`check_tokenizer_matches_config`."""
    name = str(name_or_path)
    looks_local = os.path.isabs(name) or name.startswith((".", "~")) or os.path.exists(name)
    if looks_local and not os.path.isdir(os.path.expanduser(name)):
        raise DataError(f"{name}: no such tokenizer folder (expected a folder with tokenizer.json or vocab.txt)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(os.path.expanduser(name), **kwargs)
    except (OSError, ValueError) as e:
        raise DataError(
            f"could not load a tokenizer from {name!r}: {e}. Pass a Hub id (needs network access) or a local folder "
            "such as ../shared/data/bert-base-uncased"
        ) from e
    if config is not None:
        check_tokenizer_matches_config(tokenizer, config)
    return tokenizer


def check_tokenizer_matches_config(tokenizer: PreTrainedTokenizerBase, config: Any) -> None:
    """Raise DataError naming the first field where `tokenizer` and the model `config` disagree.

    Checked: `len(tokenizer)` (vocabulary plus added tokens) against `config.vocab_size`, and the pad/cls/sep/mask
    ids (config attributes that are missing or None are skipped). A tokenizer with added tokens (e.g. FewRel entity
    markers) is longer than the config's vocabulary: the model's embeddings must then be resized.
    """
    n_tok, n_cfg = len(tokenizer), getattr(config, "vocab_size", None)
    if n_cfg is not None and n_tok != n_cfg:
        added = [t for t in tokenizer.get_added_vocab() if tokenizer.convert_tokens_to_ids(t) >= n_cfg]
        if n_tok > n_cfg and added:
            raise DataError(
                f"vocab_size: the tokenizer has {n_tok} tokens, {n_tok - n_cfg} more than config.vocab_size={n_cfg}, "
                f"because tokens were added to it ({', '.join(added[:8])}). Resize the model first: "
                f"model.resize_token_embeddings(len(tokenizer)) (this also sets config.vocab_size={n_tok})"
            )
        raise DataError(
            f"vocab_size: the tokenizer has {n_tok} tokens but config.vocab_size is {n_cfg}; this tokenizer was not "
            "made for this model (use the tokenizer saved with the model, or build the config from the tokenizer)"
        )
    for field in SPECIAL_TOKEN_ID_FIELDS:
        want = getattr(config, field, None)
        have = getattr(tokenizer, field, None)
        if want is not None and have != want:
            raise DataError(
                f"{field}: the tokenizer's {field.replace('_id', '')} ({getattr(tokenizer, field[:-3], None)!r}) has "
                f"id {have} but config.{field} is {want}; the tokenizer and the model config disagree"
            )
    want = getattr(config, "vocab_fingerprint", None)
    if want is not None and vocab_fingerprint(tokenizer) != want:
        raise DataError(
            f"vocab_fingerprint: the tokenizer has the model's {n_tok} tokens but not the same ones (vocabulary hash "
            f"{vocab_fingerprint(tokenizer)}, the model was trained with {want}); token ids would mean other words. "
            "Use the tokenizer saved with the model."
        )


def vocab_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """sha256 (first 16 hex digits) of the tokens in id order: two tokenizers with the same fingerprint map every
    id to the same token. Saved in the model's config with every checkpoint (`TLMConfig.vocab_fingerprint`)."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return hashlib.sha256("\n".join(map(str, tokens)).encode()).hexdigest()[:16]


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """A hash of what the tokenizer does (vocabulary, normalizer, added tokens, post-processor), for cache keys.

    Hashing the Python object is unreliable: calling a fast tokenizer with truncation changes its internal state,
    which would change the hash and defeat the `datasets` cache. The truncation/padding state is left out here.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
    else:  # a slow (Python) tokenizer: its vocabulary and added tokens
        state = sorted(tokenizer.get_vocab().items())
    return fingerprint(type(tokenizer).__name__, state, sorted(map(str, tokenizer.all_special_tokens)))


def special_token_ids(tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """All special ids: [PAD]/[CLS]/... plus added tokens flagged special (e.g. FewRel entity markers)."""
    ids = set(tokenizer.all_special_ids)
    ids.update(i for i, tok in tokenizer.added_tokens_decoder.items() if tok.special)
    return ids


def add_special_tokens(tokenizer: PreTrainedTokenizerBase, tokens: Iterable[str]) -> int:
    """Add `tokens` as special tokens (never split, never lowercased), skipping those it already knows.
    Returns how many were added; if > 0, the model needs `resize_token_embeddings(len(tokenizer))`."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in tokens if t not in vocab]
    if not missing:
        return 0
    added = tokenizer.add_tokens(missing, special_tokens=True)
    logger.warning(
        "Added %d special tokens %s to the tokenizer (now %d tokens): resize the model with "
        "model.resize_token_embeddings(len(tokenizer)) and save the tokenizer with the model.",
        added, missing, len(tokenizer),
    )
    return added


def _text_batches(texts: Any, batch_size: int) -> Iterator[list[str]]:
    """Batches of strings from a Dataset/IterableDataset with a `text` column, or from any iterable of strings."""
    from datasets import Dataset, IterableDataset

    if isinstance(texts, (Dataset, IterableDataset)):
        if "text" not in (texts.column_names or ["text"]):
            raise DataError(f"the texts have no 'text' column (columns: {texts.column_names})")
        for batch in texts.select_columns(["text"]).iter(batch_size=batch_size):
            yield batch["text"]
        return
    if isinstance(texts, str):
        raise DataError("texts must be a Dataset with a 'text' column or an iterable of strings, not one string")
    batch: list[str] = []
    for t in texts:
        batch.append(t)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def train_wordpiece_tokenizer(
    texts: Any,
    vocab_size: int,
    output_dir: str | os.PathLike,
    lowercase: bool = True,
    *,
    min_frequency: int = 2,
    limit_alphabet: int = 1000,
    model_max_length: int = 128,
    batch_size: int = 1000,
) -> PreTrainedTokenizerBase:
    """Train a BERT-style WordPiece tokenizer on `texts` and save it to `output_dir` as a standard tokenizer folder.

    `texts`: a Dataset with a `text` column (e.g. from `load_pretraining_texts`) or an iterable of strings.
    The pipeline is BERT's (BertNormalizer with optional lowercasing, BertPreTokenizer, "##" continuation prefix,
    [CLS] A [SEP] template), and the special tokens get ids [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.
    The vocabulary has `vocab_size` entries, fewer if the corpus is too small to fill it, and more if `vocab_size` is
    smaller than WordPiece's alphabet: every character seen (up to `limit_alphabet`) is kept, with its "##" form, so
    that any word can be spelled; a warning then gives the real size.
    Returns the tokenizer as loaded back by `AutoTokenizer.from_pretrained(output_dir)`.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertTokenizer

    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise DataError(f"vocab_size={vocab_size} is too small: it must hold the {len(SPECIAL_TOKENS)} special tokens")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    # Same normalization as BertTokenizer(do_lower_case=lowercase), so the trained vocab matches how it is used.
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        limit_alphabet=limit_alphabet,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(_text_batches(texts, batch_size), trainer=trainer)
    vocab = tok.get_vocab()
    if len(vocab) <= len(SPECIAL_TOKENS):
        raise DataError("the texts are empty: no vocabulary could be learned from them")
    if len(vocab) > vocab_size:
        logger.warning("vocab_size=%d is smaller than the alphabet the corpus needs: the vocabulary has %d tokens "
                       "(every character and its ## form; lower limit_alphabet=%d for fewer)", vocab_size, len(vocab),
                       limit_alphabet)
    # BertTokenizer rebuilds the standard BERT pipeline around the learned vocabulary and writes vocab.txt too.
    bert_tok = BertTokenizer(vocab=vocab, do_lower_case=lowercase, model_max_length=model_max_length)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    bert_tok.save_pretrained(str(out))
    # vocab.txt as well (tokenizer.json alone suffices for AutoTokenizer): older BERT tooling reads only vocab.txt.
    by_id = sorted(vocab, key=vocab.get)
    (out / "vocab.txt").write_text("".join(t + "\n" for t in by_id), encoding="utf-8")
    return AutoTokenizer.from_pretrained(str(out))
