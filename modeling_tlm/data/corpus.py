"""Pre-training corpus: raw documents -> fixed-length MLM sequences.

Documents come from the Hub (`wikimedia/wikipedia`, 20231101.en) or from local files:
  * WikiExtractor output (files of `<doc id=.. url=.. title=..>` ... `</doc>` blocks): the tags and the title line that
    follows the opening tag are dropped; one document per block.
  * plain `.txt` files: documents are separated by blank lines (the format of BERT's own pre-training data);
  * `.jsonl` / `.json` / `.parquet` / `.csv` tables with a text column (one document per row).
A folder is searched recursively; files without a suffix (WikiExtractor's `wiki_00`) count as text files.

Sequences (`build_mlm_datasets`):
  * `packed` (default): each document's tokens followed by [SEP], all concatenated, cut into blocks of
    max_length - 2 tokens, each framed as [CLS] block [SEP]. Every block is full: no padding, attention_mask all ones.
    The remainder of each map batch (< one block per 1,000 documents) is dropped.
  * `article_head` (the paper's protocol): the first max_length tokens of each article ([CLS] ... [SEP]), padded.

Held-out evaluation sequences are drawn first (whole documents, so no article is split between the two sets), and
the training set of size N is the first N of one seeded permutation of the rest: sizes nest (20k in 40k in 90k).

Command line (counts and timings)::

    python -m modeling_tlm.data sequences --data_dir ../shared/data --tokenizer_name ../shared/data/bert-base-uncased
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, Features, IterableDataset, IterableDatasetDict, Sequence, Value

from .loading import DataError, cached_dataset, file_signature, fingerprint, load_hub_dataset, read_utf8, require_path
from .tokenization import tokenizer_fingerprint

WIKIPEDIA_HUB_ID = "wikimedia/wikipedia"
WIKIPEDIA_HUB_CONFIG = "20231101.en"
SEQUENCE_MODES = ("packed", "article_head")
TEXT_SUFFIXES = ("", ".txt")  # "" = WikiExtractor's wiki_00, wiki_01, ...
TABLE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
PACK_BATCH_SIZE = 1000  # documents per packing batch; bounds the tokens dropped as remainders
TEXT_FEATURES = Features({"text": Value("string")})
DOC_FEATURES = Features({"input_ids": Sequence(Value("int32"))})
MLM_FEATURES = Features(
    {
        "input_ids": Sequence(Value("int64")),
        "attention_mask": Sequence(Value("int8")),
        "special_tokens_mask": Sequence(Value("int8")),
    }
)


# ----------------------------------------------------------------------------------------------------------------
# Raw documents
# ----------------------------------------------------------------------------------------------------------------


def _wikiextractor_documents(text: str, path: Path) -> Iterator[str]:
    """Documents of one WikiExtractor file, without the <doc> tags and the title line."""
    body: list[str] | None = None
    skip_title = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("<doc ") or line.startswith("<doc>"):
            if body is not None:
                raise DataError(f"{path}, line {lineno}: a new <doc> opens before the previous one is closed by </doc>")
            body, skip_title = [], True
        elif line.strip() == "</doc>":
            if body is None:
                raise DataError(f"{path}, line {lineno}: </doc> without an opening <doc ...> tag")
            doc = "\n".join(body).strip()
            if doc:
                yield doc
            body = None
        elif body is None:
            if line.strip():
                raise DataError(
                    f"{path}, line {lineno}: text outside a <doc ...> ... </doc> block; expected WikiExtractor output"
                )
        elif skip_title:  # the first line of a block repeats the article's title
            skip_title = False
        else:
            body.append(line)
    if body is not None:
        raise DataError(f"{path}: the last <doc ...> block is not closed by </doc> (truncated file?)")


def _text_documents(path: Path) -> Iterator[str]:
    """Documents of one text file: WikiExtractor blocks if it starts with <doc, else blank-line separated."""
    text = read_utf8(path)
    if text.lstrip().startswith("<doc"):
        yield from _wikiextractor_documents(text, path)
        return
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if block.strip():
            yield block.strip()


def _generate_documents(files: list[tuple[str, int, int]]) -> Iterator[dict]:
    """Generator for `Dataset.from_generator`: one row per document. `files` carries (path, size, mtime) so that
    an edited file changes the cache key; only the path is used here."""
    for path, _size, _mtime in files:
        for doc in _text_documents(Path(path)):
            yield {"text": doc}


def _list_files(root: Path) -> list[Path]:
    """The data files under `root` (itself if a file), sorted; hidden files, READMEs and licences are skipped."""
    if root.is_file():
        return [root]
    skip = ("readme", "license", "licence")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and not p.name.lower().startswith(skip)
        and p.suffix.lower() in TEXT_SUFFIXES + tuple(TABLE_BUILDERS)
    )


def load_pretraining_texts(
    source: str = "wikipedia",
    *,
    data_dir: str | Path | None = None,
    text_column: str = "text",
    streaming: bool = False,
    split: str = "train",
    num_proc: int | None = None,
) -> Dataset | IterableDataset:
    """The pre-training documents, one row per document, in one column `text`.

    `source`: "wikipedia" (`<data_dir>/wikipedia` when `data_dir` is given, else the Hub's `wikimedia/wikipedia`,
    config 20231101.en) or a path to a file or folder (see the module docstring for the formats). `text_column`
    names the text column of tables. `streaming=True` returns an IterableDataset (for the full Hub dump).
    Local text files are parsed once and cached by `datasets`, keyed by their paths, sizes and modification times.
    """
    if source == "wikipedia" and data_dir is None:
        ds = load_hub_dataset(WIKIPEDIA_HUB_ID, WIKIPEDIA_HUB_CONFIG, split=split, streaming=streaming)
        return ds.select_columns(["text"])
    path = require_path(Path(data_dir) / "wikipedia" if source == "wikipedia" else source)
    files = _list_files(path)
    if not files:
        raise DataError(
            f"{path}: no data files found; expected WikiExtractor output, .txt files or "
            f"{'/'.join(TABLE_BUILDERS)} tables"
        )
    suffixes = {p.suffix.lower() for p in files}
    if suffixes <= set(TEXT_SUFFIXES):
        return _load_text_files(files, streaming, num_proc)
    if len(suffixes) == 1:
        return _load_table_files(files, TABLE_BUILDERS[suffixes.pop()], text_column, streaming)
    raise DataError(f"{path}: mixes file types {sorted(suffixes)}; expected text files only or one table format")


def _load_text_files(files: list[Path], streaming: bool, num_proc: int | None) -> Dataset | IterableDataset:
    sig = file_signature(files)
    if streaming:
        return IterableDataset.from_generator(_generate_documents, features=TEXT_FEATURES, gen_kwargs={"files": sig})
    try:
        ds = cached_dataset(_generate_documents, {"files": sig}, TEXT_FEATURES, fingerprint("documents", sig), num_proc)
    except ValueError as e:  # datasets refuses a generator that yields nothing: say it in our words
        if isinstance(e, DataError) or "corresponds to no data" not in str(e):
            raise
        ds = []
    if len(ds) == 0:
        raise DataError(f"{files[0].parent if len(files) > 1 else files[0]}: the text files hold no documents")
    return ds


def _load_table_files(files: list[Path], builder: str, text_column: str, streaming: bool) -> Dataset | IterableDataset:
    for f in files:  # check encoding before pyarrow/pandas fail with a less helpful message
        if builder in ("json", "csv"):
            read_utf8(f)
    try:
        ds = datasets.load_dataset(builder, data_files=[str(f) for f in files], split="train", streaming=streaming)
    except Exception as e:
        raise DataError(f"could not read {builder} file(s) {[str(f) for f in files][:3]}: {e}") from e
    columns = ds.column_names or []
    if text_column not in columns:
        raise DataError(f"{files[0]}: no text column {text_column!r}; its columns are {columns} (pass text_column=)")
    ds = ds.select_columns([text_column])
    if text_column != "text":
        ds = ds.rename_column(text_column, "text")
    return ds.filter(_has_text, input_columns="text")


def _has_text(text: str | None) -> bool:
    return text is not None and text.strip() != ""


# ----------------------------------------------------------------------------------------------------------------
# Tokenization and sequences
# ----------------------------------------------------------------------------------------------------------------


def _tokenize_documents_batch(batch: dict, tokenizer: Any) -> dict:
    # No [CLS]/[SEP] here: packing adds them per block. verbose=False: long documents are expected.
    enc = tokenizer(
        batch["text"], add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False,
        verbose=False,
    )
    return {"input_ids": enc["input_ids"]}


def tokenize_documents(texts: Dataset, tokenizer: Any, num_proc: int | None = None) -> Dataset:
    """Whole documents -> token ids (column `input_ids`, no special tokens), batched and cached by `datasets`."""
    key = fingerprint("tokenize-documents", texts._fingerprint, tokenizer_fingerprint(tokenizer))
    return texts.map(
        _tokenize_documents_batch,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer},
        remove_columns=texts.column_names,
        features=DOC_FEATURES,
        num_proc=num_proc,
        new_fingerprint=key,
        desc="Tokenizing documents",
    )


def _list_column(col: Any) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, flat values) of a list column given as Arrow or as Python lists."""
    if isinstance(col, (pa.Array, pa.ChunkedArray)):
        return (
            pc.list_value_length(col).to_numpy(zero_copy_only=False).astype(np.int64),
            pc.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.int64),
        )
    lengths = np.fromiter((len(x) for x in col), dtype=np.int64, count=len(col))
    values = np.fromiter((t for x in col for t in x), dtype=np.int64, count=int(lengths.sum()))
    return lengths, values


def _pack_batch(batch: Any, max_length: int, cls_id: int, sep_id: int) -> dict:
    """Concatenate documents (each closed by [SEP]) and cut full blocks of [CLS] + (max_length-2) tokens + [SEP]."""
    lengths, values = _list_column(batch["input_ids"])
    stream = np.empty(len(values) + len(lengths), dtype=np.int64)
    sep_at = np.cumsum(lengths + 1) - 1  # position of each document's closing [SEP] in the stream
    is_sep = np.zeros(len(stream), dtype=bool)
    is_sep[sep_at] = True
    stream[~is_sep] = values
    stream[is_sep] = sep_id
    body = max_length - 2
    n = len(stream) // body
    ids = np.empty((n, max_length), dtype=np.int64)
    ids[:, 0], ids[:, -1] = cls_id, sep_id
    ids[:, 1:-1] = stream[: n * body].reshape(n, body)
    special = (ids == cls_id) | (ids == sep_id)
    return {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids, dtype=np.int8),
        "special_tokens_mask": special.astype(np.int8),
    }


def _pack(docs: Dataset, max_length: int, tokenizer: Any) -> Dataset:
    """Pack in one process: batch boundaries (hence which remainders are dropped) must not depend on num_proc, or the
    sequences would change with it. Packing is vectorised and takes about a second for 20M tokens."""
    key = fingerprint("pack", docs._fingerprint, max_length, PACK_BATCH_SIZE)
    return docs.with_format("arrow").map(
        _pack_batch,
        batched=True,
        batch_size=PACK_BATCH_SIZE,
        fn_kwargs={"max_length": max_length, "cls_id": tokenizer.cls_token_id, "sep_id": tokenizer.sep_token_id},
        remove_columns=docs.column_names,
        features=MLM_FEATURES,
        new_fingerprint=key,
        desc="Packing sequences",
    ).with_format(None)


def _head_batch(batch: dict, tokenizer: Any, max_length: int) -> dict:
    """First `max_length` tokens of each text, padded. Only a prefix of each text is tokenized, cut at whitespace so
    its tokens are exactly the first tokens of the whole text; a prefix too short to fill the sequence is redone
    with the whole text. This saves tokenizing whole articles (about 25x less work on Wikipedia)."""
    kwargs = dict(truncation=True, max_length=max_length, padding="max_length",
                  return_special_tokens_mask=True, return_token_type_ids=False)
    texts = batch["text"]
    limit = 16 * max_length  # characters; English averages under 6 characters per WordPiece token
    cuts = [max(t.rfind(c, 0, limit) for c in " \n\t") if len(t) > limit else -1 for t in texts]
    enc = tokenizer([t[:c] if c > 0 else t for t, c in zip(texts, cuts)], **kwargs)
    redo = [i for i, c in enumerate(cuts) if c > 0 and sum(enc["attention_mask"][i]) < max_length]  # prefix too short
    out = {k: enc[k] for k in ("input_ids", "attention_mask", "special_tokens_mask")}
    if redo:
        full = tokenizer([texts[i] for i in redo], **kwargs)
        for j, i in enumerate(redo):
            for k in out:
                out[k][i] = full[k][j]
    return out


def _article_heads(texts: Dataset, tokenizer: Any, max_length: int, num_proc: int | None, key: str) -> Dataset:
    return texts.map(
        _head_batch,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
        remove_columns=texts.column_names,
        features=MLM_FEATURES,
        num_proc=num_proc,
        new_fingerprint=key,
        desc="Tokenizing article heads",
    )


def _eval_size(total: int, eval_fraction: float, min_eval_sequences: int) -> int:
    if eval_fraction <= 0 and min_eval_sequences <= 0:
        return 0
    return max(int(min_eval_sequences), math.ceil(eval_fraction * total))


def _too_few(what: str, total: int, n_eval: int, max_length: int) -> DataError:
    return DataError(
        f"the corpus yields {total} {what} of {max_length} tokens, not enough to hold out {n_eval} for evaluation "
        "and train on the rest; add text, or lower min_eval_sequences / eval_fraction"
    )


def build_mlm_datasets(
    texts: Dataset | IterableDataset,
    tokenizer: Any,
    *,
    max_length: int = 128,
    sequence_mode: str = "packed",
    pre_train_size: int | None = None,
    eval_fraction: float = 0.01,
    min_eval_sequences: int = 256,
    seed: int = 42,
    num_proc: int | None = None,
) -> DatasetDict | IterableDatasetDict:
    """Training and held-out MLM sequences from documents (a `text` column), as a DatasetDict with splits `train`
    and `validation` and columns `input_ids`, `attention_mask`, `special_tokens_mask` (lists of `max_length` ints).

    `sequence_mode`: "packed" (no padding; see module docstring) or "article_head" (one padded sequence per article).
    The validation slice has max(min_eval_sequences, ceil(eval_fraction * total)) sequences and is drawn first; with
    "packed" it consists of whole held-out documents. `pre_train_size` = N takes the first N sequences of one seeded
    permutation of the rest (None: all of them, shuffled), so sets of different sizes nest.
    Raises DataError when the corpus yields fewer sequences than that. With an IterableDataset (streaming), the
    validation slice is the first `min_eval_sequences` sequences of the seeded shuffled stream and the training set
    the next `pre_train_size` (all if None); shortfalls then show up only while iterating.
    """
    if sequence_mode not in SEQUENCE_MODES:
        raise DataError(f"sequence_mode={sequence_mode!r}; expected one of {SEQUENCE_MODES}")
    if max_length < 3:
        raise DataError(f"max_length={max_length}; it must leave room for [CLS], [SEP] and at least one token")
    if pre_train_size is not None and pre_train_size < 1:
        raise DataError(f"pre_train_size={pre_train_size}; expected a positive number of sequences (or None for all)")
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None or tokenizer.pad_token_id is None:
        raise DataError("the tokenizer needs [CLS], [SEP] and [PAD] tokens (a BERT-style tokenizer)")
    if "text" not in (texts.column_names or ["text"]):
        raise DataError(f"the texts need a 'text' column; they have {texts.column_names}")
    if isinstance(texts, IterableDataset):
        return _build_streaming(texts, tokenizer, max_length, sequence_mode, pre_train_size, min_eval_sequences, seed)
    build = _article_head_datasets if sequence_mode == "article_head" else _packed_datasets
    return build(texts, tokenizer, max_length, pre_train_size, eval_fraction, min_eval_sequences, seed, num_proc)


def _article_head_datasets(texts, tokenizer, max_length, pre_train_size, eval_fraction, min_eval_sequences, seed,
                           num_proc) -> DatasetDict:
    """One padded sequence per article: its first `max_length` tokens; the held-out articles drawn first."""
    rng = np.random.default_rng(seed)
    tok_fp = tokenizer_fingerprint(tokenizer)
    total = len(texts)  # one sequence per article
    n_eval = _eval_size(total, eval_fraction, min_eval_sequences)
    if total == 0 or n_eval >= total:
        raise _too_few("sequences (one per article)", total, n_eval, max_length)
    order = rng.permutation(total)
    eval_idx, pool = order[:n_eval], order[n_eval:]
    _check_size(pre_train_size, len(pool), n_eval, max_length, "article_head")
    train_idx = pool[:pre_train_size] if pre_train_size else pool
    # Tokenize only the selected articles (the paper's way): cheap even for the full 6.4M-article dump.
    parts = {}
    for name, idx in (("train", train_idx), ("validation", eval_idx)):
        sel = texts.select(idx)
        parts[name] = _article_heads(
            sel, tokenizer, max_length, num_proc, fingerprint("heads", sel._fingerprint, tok_fp, max_length)
        )
    return DatasetDict(parts)


def _packed_datasets(texts, tokenizer, max_length, pre_train_size, eval_fraction, min_eval_sequences, seed,
                     num_proc) -> DatasetDict:
    """Packed blocks of `max_length` tokens (no padding); the held-out slice made of whole documents."""
    rng = np.random.default_rng(seed)
    docs = tokenize_documents(texts, tokenizer, num_proc)
    lengths = pc.list_value_length(docs.data.column("input_ids")).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    body = max_length - 2
    total = int(lengths.sum()) // body  # what packing the whole stream at once would give
    if total == 0:
        raise DataError(
            f"the corpus yields 0 packed sequences of {max_length} tokens: its {len(docs)} document(s) hold "
            f"{int(lengths.sum()) - len(docs)} tokens, fewer than the {body} one block needs; add text or use "
            "sequence_mode='article_head'"
        )
    n_eval = _eval_size(total, eval_fraction, min_eval_sequences)
    # Hold out whole documents, in seeded order, until they surely give n_eval blocks: each packing batch can lose
    # up to one block's worth of tokens as its remainder, hence the margin of one block per batch.
    doc_order = rng.permutation(len(docs))
    cum = np.cumsum(lengths[doc_order])
    n_docs_eval, n_batches = 0, 1
    while n_eval:
        n_docs_eval = int(np.searchsorted(cum, (n_eval + n_batches) * body)) + 1
        if n_docs_eval >= len(docs):
            raise _too_few("packed sequences", total, n_eval, max_length)
        if math.ceil(n_docs_eval / PACK_BATCH_SIZE) <= n_batches:
            break
        n_batches = math.ceil(n_docs_eval / PACK_BATCH_SIZE)
    eval_docs = docs.select(np.sort(doc_order[:n_docs_eval]))
    train_docs = docs.select(np.sort(doc_order[n_docs_eval:]))
    validation = _pack(eval_docs, max_length, tokenizer).select(range(n_eval))
    pool = _pack(train_docs, max_length, tokenizer)
    _check_size(pre_train_size, len(pool), n_eval, max_length, "packed")
    order = np.random.default_rng([seed, 1]).permutation(len(pool))
    train = pool.select(order[:pre_train_size] if pre_train_size else order)
    return DatasetDict({"train": train, "validation": validation})


def _check_size(wanted: int | None, available: int, n_eval: int, max_length: int, mode: str) -> None:
    if available == 0 or (wanted is not None and wanted > available):
        asked = f"pre_train_size={wanted} asks for more" if wanted else "there is nothing left to train on"
        raise DataError(
            f"the corpus yields {available} training sequences of {max_length} tokens with sequence_mode={mode!r} "
            f"({n_eval} more are held out for evaluation); {asked}. Use a larger corpus, a smaller pre_train_size"
            + (", or sequence_mode='packed'" if mode == "article_head" else "")
        )


def _build_streaming(
    texts: IterableDataset, tokenizer: Any, max_length: int, mode: str, size: int | None, n_eval: int, seed: int
) -> IterableDatasetDict:
    stream = texts.select_columns(["text"]).shuffle(seed=seed, buffer_size=10_000)
    if mode == "article_head":
        seqs = stream.map(
            _head_batch, batched=True, fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
            remove_columns=["text"], features=MLM_FEATURES,
        )
    else:
        seqs = stream.map(
            _tokenize_documents_batch, batched=True, fn_kwargs={"tokenizer": tokenizer}, remove_columns=["text"]
        ).map(
            _pack_batch, batched=True, batch_size=PACK_BATCH_SIZE, remove_columns=["input_ids"], features=MLM_FEATURES,
            fn_kwargs={"max_length": max_length, "cls_id": tokenizer.cls_token_id, "sep_id": tokenizer.sep_token_id},
        )
    train = seqs.skip(n_eval)
    return IterableDatasetDict({"train": train.take(size) if size else train, "validation": seqs.take(n_eval)})
