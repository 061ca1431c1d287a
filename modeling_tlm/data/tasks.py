"""Classification tasks -> `TaskData`: a DatasetDict (train / validation / test, columns `text` and `label` 0..K-1)
with the dataset's own label names.

Sources, by task name:
  * "ag_news": Hub `fancyzhx/ag_news`, or the official CSV `class_index,title,description` (no header, 1-based labels,
    `\\` for newlines) with `classes.txt`. The text is title + " " + description, as in the Hub copy; every `\\`
    becomes a newline, whichever source the text comes from.
  * "dbpedia_14": Hub `fancyzhx/dbpedia_14`, or the official CSV `label,title,content` with `classes.txt`. The text is
    `content` only (the paper's choice); `use_title=True` prepends the title.
  * "fewrel": local only, the official JSON `{relation_id: [{"tokens", "h", "t"}, ...]}` with `pid2name.json` for label
    names. Each instance becomes one text with the head and tail entities marked: `[E1] head [/E1]` and
    `[E2] tail [/E2]` (`entity_markers="tokens"`: special tokens that `tokenize_task` adds to the tokenizer, so the
    model's embeddings must be resized), or `@ head @` / `# tail #` (`"punct"`, plain text, no new tokens).
    From a single file, each relation is split into test and train with a seed (10% test, or
    `samples_per_label_test` rows): the paper's 630/70 protocol on 700 sentences per relation.
  * "csv" / "json" (or task_name=None with train_file): any CSV (with a header) / JSON / JSONL / Parquet file with a
    text column and a label column; labels are sorted and numbered 0..K-1.
A `data_dir` laid out like ../shared/data is searched by task name (`<data_dir>/ag_news/train.csv`, ...).

Sampling (`samples_per_label_train` / `samples_per_label_test`, see TASK_DEFAULTS for the paper's values) is stratified
and seeded: per label, a fixed permutation of the rows is drawn and the first N are taken, so smaller samples are
subsets of larger ones. The validation slice comes from the training pool only, never from test: per label,
ceil(validation_fraction * N) rows from the end of the same permutation, disjoint from the training rows. When the
pool is too small for both (FewRel: 630 rows for 630 train + 63 validation), the training sample shrinks to make room
and a warning says so; pass validation_fraction=0 for the paper's exact sizes (and no validation split).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import datasets
import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from .loading import DataError, cached_dataset, file_signature, fingerprint, load_hub_dataset, read_utf8, require_path
from .tokenization import add_special_tokens, tokenizer_fingerprint

logger = logging.getLogger(__name__)

# The paper's samples per label (train, test). FewRel's are for train_wiki.json's 700 sentences per relation.
TASK_DEFAULTS: dict[str, dict[str, int]] = {
    "ag_news": {"samples_per_label_train": 1000, "samples_per_label_test": 1000},
    "dbpedia_14": {"samples_per_label_train": 100, "samples_per_label_test": 100},
    "fewrel": {"samples_per_label_train": 630, "samples_per_label_test": 70},
}
GENERIC_TASKS = ("csv", "json")
TASK_NAMES = (*TASK_DEFAULTS, *GENERIC_TASKS)
ENTITY_MARKERS = {"tokens": ("[E1]", "[/E1]", "[E2]", "[/E2]"), "punct": ("@", "@", "#", "#")}
FEWREL_FILES = ("train_wiki.json", "val_wiki.json", "train.json")  # in order of preference
FEWREL_TEST_FRACTION = 0.1  # 70 of 700 per relation


@dataclass(frozen=True)
class _CsvTask:
    """An official Zhang et al. (2015) CSV task: its Hub copy and its CSV layout."""

    hub_id: str
    columns: tuple[str, ...]
    class_names: tuple[str, ...]  # used only when classes.txt is missing
    backslash_newlines: bool  # AG News writes newlines as "\"


_CSV_TASKS = {
    "ag_news": _CsvTask("fancyzhx/ag_news", ("class_index", "title", "description"),
                        ("World", "Sports", "Business", "Sci/Tech"), True),
    "dbpedia_14": _CsvTask(
        "fancyzhx/dbpedia_14", ("label", "title", "content"),
        ("Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation", "Building",
         "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"), False),
}

# The tasks whose training texts can be a pre-training corpus (load_task_texts): their test rows are a separate file.
TASK_TEXT_CORPORA = tuple(_CSV_TASKS)


@dataclass
class TaskData:
    """A classification task ready for tokenization.

    dataset: splits train / validation / test, columns `text` (str) and `label` (ClassLabel, 0..K-1).
    marker_tokens: tokens `tokenize_task` adds to the tokenizer (FewRel entity markers), empty otherwise.
    source: where the rows came from (files or Hub id), for logs and model cards.
    """

    name: str
    dataset: DatasetDict
    id2label: dict[int, str]
    label2id: dict[str, int]
    marker_tokens: tuple[str, ...] = ()
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_labels(self) -> int:
        return len(self.id2label)


def _features(names: list[str]) -> Features:
    return Features({"text": Value("string"), "label": ClassLabel(names=list(names))})


# ----------------------------------------------------------------------------------------------------------------
# Official CSV tasks (AG News, DBpedia-14)
# ----------------------------------------------------------------------------------------------------------------


def _unescape_backslashes(text: str) -> str:
    # AG News writes each newline as "\" (sometimes "\\"); the readme's "\n" does not occur in the data.
    return "\n".join(part.strip() for part in text.replace("\\\\", "\\").split("\\")).strip()


def _csv_rows(
    file: tuple[str, int, int], columns: tuple[str, ...], text_columns: tuple[str, ...], num_classes: int,
    backslash_newlines: bool,
) -> Iterator[dict]:
    """Rows of one official CSV (no header, 1-based class index first), checked line by line."""
    path = Path(file[0])
    reader = csv.reader(io.StringIO(read_utf8(path), newline=""))
    for row in reader:
        if not row:  # blank line
            continue
        if len(row) != len(columns):
            raise DataError(
                f"{path}, line {reader.line_num}: {len(row)} columns; expected {len(columns)} "
                f"({','.join(columns)}, quoted, no header row)"
            )
        label = row[0].strip()
        if not (label.isdigit() and 1 <= int(label) <= num_classes):
            raise DataError(
                f"{path}, line {reader.line_num}: {columns[0]} is {label!r}; expected an integer from 1 to "
                f"{num_classes} (1-based, one per line of classes.txt; the file has no header row)"
            )
        text = " ".join(row[columns.index(c)].strip() for c in text_columns if row[columns.index(c)].strip())
        yield {"text": _unescape_backslashes(text) if backslash_newlines else text, "label": int(label) - 1}


def _read_classes(path: Path) -> list[str]:
    names = [line.strip() for line in read_utf8(path).splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path}: no class names; expected one class name per line")
    return names


def _csv_dataset(name: str, path: Path, names: list[str], use_title: bool) -> Dataset:
    """One official CSV file as a cached Dataset (parsed and checked once per file version)."""
    spec = _CSV_TASKS[name]
    kwargs = dict(file=file_signature([path])[0], columns=spec.columns, text_columns=_text_columns(name, use_title),
                  num_classes=len(names), backslash_newlines=spec.backslash_newlines)
    return cached_dataset(_csv_rows, kwargs, _features(names), fingerprint("csv-task", kwargs, names))


def _text_columns(name: str, use_title: bool) -> tuple[str, ...]:
    # AG News: title + description (as the Hub's `text`); DBpedia: content only, as in the paper, unless use_title.
    return ("title", "description") if name == "ag_news" else (("title", "content") if use_title else ("content",))


def _load_csv_task(name, folder, train_file, test_file, validation_file, use_title):
    spec = _CSV_TASKS[name]
    files = {"train": train_file, "test": test_file, "validation": validation_file}
    if folder is not None:  # files passed explicitly win over the folder's
        files = {"train": folder / "train.csv", "test": folder / "test.csv",
                 **{k: v for k, v in files.items() if v is not None}}
    files = {k: require_path(v, "file") for k, v in files.items() if v is not None}
    if "train" not in files:  # no local training file: the Hub
        raw_hub = load_hub_dataset(spec.hub_id)
        names = raw_hub["train"].features["label"].names
        text_columns = ("text",) if name == "ag_news" else _text_columns(name, use_title)  # Hub ag_news: joined
        raw = {
            split: ds.map(
                _hub_text, batched=True, remove_columns=[c for c in ds.column_names if c != "label"],
                fn_kwargs={"text_columns": text_columns, "backslash_newlines": spec.backslash_newlines},
            ).cast(_features(names))
            for split, ds in raw_hub.items() if split in ("train", "test")
        }
        sources = {split: f"{spec.hub_id} ({split})" for split in raw}
        if "validation" in files:
            raw["validation"] = _csv_dataset(name, files["validation"], names, use_title)
            sources["validation"] = str(files["validation"])
        return raw, names, sources
    classes = files["train"].parent / "classes.txt"
    names = _read_classes(classes) if classes.exists() else list(spec.class_names)
    raw = {split: _csv_dataset(name, path, names, use_title) for split, path in files.items()}
    return raw, names, {split: str(path) for split, path in files.items()}


def _hub_text(batch: dict, text_columns: tuple[str, ...], backslash_newlines: bool) -> dict:
    texts = [" ".join(p.strip() for p in parts if p and p.strip()) for parts in zip(*(batch[c] for c in text_columns))]
    return {"text": [_unescape_backslashes(t) for t in texts] if backslash_newlines else texts}


# ----------------------------------------------------------------------------------------------------------------
# FewRel
# ----------------------------------------------------------------------------------------------------------------


def _entity_positions(value: Any, path: Path, where: str, key: str, n_tokens: int) -> list[int]:
    """Token positions of the first mention in an "h"/"t" field: [name, wikidata_id, [[positions], ...]]."""
    ok = isinstance(value, list) and len(value) >= 3 and isinstance(value[2], list) and value[2]
    pos = value[2][0] if ok else None
    if not (isinstance(pos, list) and pos and all(isinstance(i, int) and 0 <= i < n_tokens for i in pos)):
        raise DataError(
            f"{path}: {where}: field {key!r} is {json.dumps(value)[:120]}; expected [name, wikidata_id, "
            f"[[token positions], ...]] with positions in 0..{n_tokens - 1} (FewRel format)"
        )
    return pos


def _fewrel_text(tokens: list[str], head: list[int], tail: list[int], markers: tuple[str, ...]) -> str:
    """The sentence with the head entity wrapped in markers[0:2] and the tail in markers[2:4]."""
    before: dict[int, list[str]] = {}
    after: dict[int, list[str]] = {}
    for span, (open_m, close_m) in ((head, markers[:2]), (tail, markers[2:])):
        before.setdefault(min(span), []).append(open_m)
        after.setdefault(max(span), []).insert(0, close_m)
    out: list[str] = []
    for i, tok in enumerate(tokens):
        out += before.get(i, [])
        if tok.strip():  # FewRel has whitespace-only tokens
            out.append(tok.strip())
        out += after.get(i, [])
    return " ".join(out)


def _fewrel_json(path: Path) -> dict[str, list]:
    """The parsed FewRel file, checked at the top level: {relation_id: [instances]}."""
    try:
        data = json.loads(read_utf8(path))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}, line {e.lineno}, column {e.colno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path}: expected a JSON object {{relation_id: [instances]}} (FewRel format), "
                        f"got {type(data).__name__}")
    for rel, instances in data.items():
        if not isinstance(instances, list):
            raise DataError(f"{path}: relation {rel!r}: expected a list of instances, got {type(instances).__name__}")
    return data


def _fewrel_rows(file: tuple[str, int, int], relations: tuple[str, ...], markers: tuple[str, ...]) -> Iterator[dict]:
    """Rows of one FewRel file (for `cached_dataset`: runs only when the cache misses), checked field by field."""
    path = Path(file[0])
    for rel, instances in _fewrel_json(path).items():
        for i, inst in enumerate(instances):
            where = f"relation {rel!r}, instance {i}"
            tokens = inst.get("tokens") if isinstance(inst, dict) else None
            if not (isinstance(tokens, list) and tokens and all(isinstance(t, str) for t in tokens)):
                raise DataError(f"{path}: {where}: expected an object with 'tokens' (a list of strings), 'h' and 't'")
            head = _entity_positions(inst.get("h"), path, where, "h", len(tokens))
            tail = _entity_positions(inst.get("t"), path, where, "t", len(tokens))
            yield {"text": _fewrel_text(tokens, head, tail, markers), "label": relations.index(rel)}


def _fewrel_label_names(relations: list[str], pid2name: Path | None) -> list[str]:
    if pid2name is None or not pid2name.exists():
        return list(relations)
    try:
        table = json.loads(read_utf8(pid2name))
    except json.JSONDecodeError as e:
        raise DataError(f"{pid2name}, line {e.lineno}: not valid JSON ({e.msg})") from None
    names = []
    for rel in relations:
        entry = table.get(rel) if isinstance(table, dict) else None
        if not (isinstance(entry, list) and entry and isinstance(entry[0], str)):
            raise DataError(f"{pid2name}: field {rel!r} is {entry!r}; expected [name, description]")
        names.append(entry[0])
    # Label names must be unique keys of label2id; keep the property id where two share a name.
    return [f"{n} ({r})" if names.count(n) > 1 else n for n, r in zip(names, relations)]


def _fewrel_dataset(path: Path, relations: list[str], names: list[str], markers: tuple[str, ...]) -> Dataset:
    # A tuple, not a list: from_generator would treat a list in gen_kwargs as shards to split.
    kwargs = {"file": file_signature([path])[0], "relations": tuple(relations), "markers": markers}
    return cached_dataset(_fewrel_rows, kwargs, _features(names), fingerprint("fewrel", kwargs, names))


def _find_fewrel_file(folder: Path) -> Path:
    for name in FEWREL_FILES:
        if (folder / name).exists():
            return folder / name
    others = sorted(p for p in folder.glob("*.json") if p.name not in ("pid2name.json", "test.json"))
    if len(others) == 1:
        return others[0]
    raise DataError(f"{folder}: no FewRel file; expected one of {', '.join(FEWREL_FILES)} (official FewRel JSON) "
                    f"next to pid2name.json, found {[p.name for p in others]}")


def _load_fewrel(folder, train_file, test_file, validation_file, entity_markers):
    if entity_markers not in ENTITY_MARKERS:
        raise DataError(f"entity_markers={entity_markers!r}; expected one of {list(ENTITY_MARKERS)}")
    markers = ENTITY_MARKERS[entity_markers]
    if folder is not None:
        train_file = _find_fewrel_file(folder)
        if test_file is None and train_file.name == "train.json" and (folder / "test.json").exists():
            test_file = folder / "test.json"
    if train_file is None:
        raise DataError(
            "FewRel has no loadable Hub copy: download train_wiki.json / val_wiki.json and pid2name.json from "
            "https://github.com/thunlp/FewRel (data/) and pass data_dir= (a folder with fewrel/) or train_file="
        )
    files = {"train": train_file, "test": test_file, "validation": validation_file}
    files = {k: require_path(v, "file") for k, v in files.items() if v is not None}
    relations = list(_fewrel_json(files["train"]))
    for split, path in files.items():
        unknown = [r for r in _fewrel_json(path) if r not in relations] if split != "train" else []
        if unknown:
            raise DataError(f"{path}: relations {unknown[:5]} do not occur in the training file "
                            f"{files['train'].name}; expected the same relations in every split")
    names = _fewrel_label_names(relations, files["train"].parent / "pid2name.json")
    raw = {split: _fewrel_dataset(path, relations, names, markers) for split, path in files.items()}
    marker_tokens = markers if entity_markers == "tokens" else ()
    return raw, names, {k: str(v) for k, v in files.items()}, marker_tokens, {"relation_ids": relations}


# ----------------------------------------------------------------------------------------------------------------
# Generic CSV / JSON tasks
# ----------------------------------------------------------------------------------------------------------------

_GENERIC_BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def _read_table(path: Path) -> Dataset:
    builder = _GENERIC_BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise DataError(f"{path}: unsupported file type; expected one of {', '.join(_GENERIC_BUILDERS)}")
    if builder != "parquet" and not read_utf8(path).strip():  # read_utf8: a clear message for bad encodings
        raise DataError(f"{path}: the file is empty; expected one example per row")
    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as e:
        if "corresponds to no data" in str(e):  # datasets' words for a file with a header at most
            raise DataError(f"{path}: no rows (a header at most); expected one example per row") from None
        raise DataError(f"{path}: could not read it as {builder}: {e}") from e


def _encode_rows(batch: dict, text_column: str, label_column: str, label2id: dict) -> dict:
    return {"text": batch[text_column], "label": [label2id[v] for v in batch[label_column]]}


def _load_generic(train_file, test_file, validation_file, text_column, label_column):
    if train_file is None:
        raise DataError("a csv/json task needs train_file= (and optionally test_file= and validation_file=)")
    text_column, label_column = text_column or "text", label_column or "label"
    files = {k: require_path(v, "file") for k, v in
             {"train": train_file, "test": test_file, "validation": validation_file}.items() if v is not None}
    tables = {split: _read_table(path) for split, path in files.items()}
    for split, ds in tables.items():
        if len(ds) == 0:
            raise DataError(f"{files[split]}: no rows (a header at most); expected one example per row with columns "
                            f"{text_column!r} and {label_column!r}")
        for col, flag in ((text_column, "--text_column_name"), (label_column, "--label_column_name")):
            if col not in ds.column_names:
                raise DataError(f"{files[split]}: no column {col!r}; its columns are {ds.column_names} (pass {flag})")
        texts = ds[text_column][:]
        empty = next((i for i, v in enumerate(texts) if not isinstance(v, str) or not v.strip()), None)
        if empty is not None:
            raise DataError(f"{files[split]}: row {empty + 1} (after the header), field {text_column!r} is "
                            f"{texts[empty]!r}; expected a non-empty text on every row")
    feature = tables["train"].features[label_column]
    values = tables["train"][label_column][:]
    if isinstance(feature, ClassLabel):
        names = list(feature.names)
        label2id = {i: i for i in range(len(names))}
    else:
        if any(v is None or isinstance(v, (list, dict, float)) for v in values) or len({type(v) for v in values}) > 1:
            bad = next(i for i, v in enumerate(values)
                       if v is None or isinstance(v, (list, dict, float)) or type(v) is not type(values[0]))
            raise DataError(f"{files['train']}: row {bad + 1}, field {label_column!r} is {values[bad]!r}; expected "
                            "a class name or an integer, of the same type on every row")
        numeric = [isinstance(v, str) and v.strip().lstrip("-").isdigit() for v in values]
        if any(numeric) and not all(numeric):  # one stray word among integer labels makes the whole column text
            bad = numeric.index(False)
            raise DataError(f"{files['train']}: row {bad + 1}, field {label_column!r} is {values[bad]!r}; the other "
                            "labels are integers: expected an integer on every row (or class names on every row)")
        keys = sorted(set(values))
        names = [str(k) for k in keys]
        label2id = {k: i for i, k in enumerate(keys)}
    raw = {}
    for split, ds in tables.items():
        unknown = [(i, v) for i, v in enumerate(ds[label_column][:]) if v not in label2id]
        if unknown:
            i, v = unknown[0]
            raise DataError(f"{files[split]}: row {i + 1}, field {label_column!r} is {v!r}; expected one of the "
                            f"training file's labels {names[:20]}")
        raw[split] = ds.map(
            _encode_rows, batched=True, remove_columns=ds.column_names, features=_features(names),
            fn_kwargs={"text_column": text_column, "label_column": label_column, "label2id": label2id},
        )
    return raw, names, {split: str(path) for split, path in files.items()}


# ----------------------------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------------------------


def _label_orders(labels: np.ndarray, num_labels: int, seed: int, salt: int) -> list[np.ndarray]:
    """Per label, its row indices in a fixed seeded order (independent of how many rows are then taken)."""
    return [np.random.default_rng([seed, salt, k]).permutation(np.flatnonzero(labels == k)) for k in range(num_labels)]


def _too_many(task: str, name: str, have: int, want: int, arg: str, where: str) -> DataError:
    return DataError(f"{task}: class {name!r} has {have} rows in {where}; {arg}={want} asks for more")


def _sample(raw: dict[str, Dataset], names: list[str], task: str, sources: dict[str, str], n_train: int | None,
            n_test: int | None, validation_fraction: float, seed: int) -> DatasetDict:
    """The labelled sample: `n_test` test rows and `n_train` training rows per label (None: all), a validation slice
    of `validation_fraction` of each label's training rows where the task has no validation split, drawn by `seed`."""
    _check_sample_sizes(n_train, n_test, validation_fraction)
    if "test" not in raw:  # one file: split each label's rows into test and train
        raw = _split_off_test(raw, names, task, sources, n_test, seed)
    train = raw["train"]
    test_idx = _test_rows(raw["test"], names, task, sources, n_test, seed)
    train_idx, val_idx = _train_and_validation_rows(train, names, task, sources, n_train, validation_fraction,
                                                    has_validation="validation" in raw, seed=seed)
    return DatasetDict({
        "train": train.select(train_idx),
        "validation": raw["validation"] if "validation" in raw else train.select(val_idx),
        "test": raw["test"].select(test_idx),
    })


def _check_sample_sizes(n_train: int | None, n_test: int | None, validation_fraction: float) -> None:
    if not 0 <= validation_fraction < 1:
        raise DataError(f"validation_fraction={validation_fraction}; expected a number in [0, 1)")
    for arg, n in (("samples_per_label_train", n_train), ("samples_per_label_test", n_test)):
        if n is not None and n < 1:
            raise DataError(f"{arg}={n}; expected a positive number of rows per label (or None for all)")


def _split_off_test(raw, names, task, sources, n_test, seed) -> dict[str, Dataset]:
    """A task in one file: each label's rows split into test (n_test, or FEWREL_TEST_FRACTION of them) and train."""
    train = raw["train"]
    test_idx, train_idx = [], []
    for label, order in enumerate(_label_orders(np.asarray(train["label"][:]), len(names), seed, 0)):
        n_t = n_test if n_test is not None else math.ceil(FEWREL_TEST_FRACTION * len(order))
        if n_t >= len(order):
            raise DataError(f"{task}: class {names[label]!r} has {len(order)} rows in {sources['train']}, too few to "
                            f"split off {n_t} test rows and keep at least one for training")
        test_idx.append(order[:n_t])
        train_idx.append(order[n_t:])
    return dict(raw, test=train.select(np.sort(np.concatenate(test_idx))),
                train=train.select(np.sort(np.concatenate(train_idx))))


def _test_rows(test: Dataset, names, task, sources, n_test, seed) -> np.ndarray:
    """Sorted indices of n_test test rows per label (all with None)."""
    rows = []
    for label, order in enumerate(_label_orders(np.asarray(test["label"][:]), len(names), seed, 1)):
        if n_test is not None and n_test > len(order):
            raise _too_many(task, names[label], len(order), n_test, "samples_per_label_test",
                            f"the test split ({sources.get('test', sources['train'])})")
        rows.append(order[:n_test])
    return np.sort(np.concatenate(rows))


def _train_and_validation_rows(train: Dataset, names, task, sources, n_train, validation_fraction,
                               has_validation: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of each label's training sample and, without a validation split, its validation slice (taken
    from the other end of the label's shuffled pool, so it never overlaps the sample)."""
    train_idx, val_idx, short = [], [], []
    # [:] reads the column at once (iterating a Column is slow)
    for label, order in enumerate(_label_orders(np.asarray(train["label"][:]), len(names), seed, 2)):
        pool = len(order)
        if n_train is not None and n_train > pool:
            raise _too_many(task, names[label], pool, n_train, "samples_per_label_train",
                            f"the train split ({sources['train']})")
        want = n_train if n_train is not None else pool
        n_val = 0 if has_validation else math.ceil(validation_fraction * (want if n_train else pool))
        if n_train is None:
            want = pool - n_val  # no sample size: a plain train/validation split of the pool
        elif want + n_val > pool:
            short.append(f"{names[label]!r} ({pool} rows)")
            want = pool - n_val
        if want < 1:
            raise DataError(f"{task}: class {names[label]!r} has {pool} rows in the train split ({sources['train']}), "
                            f"too few for {n_val} validation rows and at least one training row")
        train_idx.append(order[:want])
        val_idx.append(order[pool - n_val:] if n_val else order[:0])
    if short:
        logger.warning(
            "%s: the training pool of %d class(es) holds fewer rows than samples_per_label_train=%s plus a validation "
            "slice of %.0f%%: their training samples shrink to make room (%s). Pass validation_fraction=0 for the "
            "exact training size.", task, len(short), n_train, 100 * validation_fraction, ", ".join(short[:5]),
        )
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


# ----------------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------------


# Folder names a task is found under: ours (as in ../shared/data) and those of the official archives.
TASK_FOLDERS = {"ag_news": ("ag_news", "ag_news_csv"), "dbpedia_14": ("dbpedia_14", "dbpedia_csv", "dbpedia"),
                "fewrel": ("fewrel", "FewRel")}


def _task_folder(data_dir: str | Path, name: str, marker: str) -> Path:
    """`<data_dir>/<folder>` for one of the task's folder names, or `data_dir` itself if it is such a folder."""
    root = require_path(data_dir, "data folder")
    candidates = [root / f for f in TASK_FOLDERS[name]] + ([root] if root.name in TASK_FOLDERS[name] else [])
    for folder in candidates:
        if (folder / marker).exists():
            return folder
    raise DataError(f"{root}: no {name}/ folder with {marker}; expected a data folder laid out like "
                    f"../shared/data ({name}/{marker}, ...); folder names tried: {', '.join(TASK_FOLDERS[name])}")


def load_task(
    task_name: str | None,
    *,
    data_dir: str | Path | None = None,
    samples_per_label_train: int | None = None,
    samples_per_label_test: int | None = None,
    validation_fraction: float = 0.1,
    seed: int = 42,
    train_file: str | Path | None = None,
    test_file: str | Path | None = None,
    validation_file: str | Path | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    use_title: bool = False,
    entity_markers: str = "tokens",
) -> TaskData:
    """Load a classification task (see the module docstring) and sample it.

    Files passed explicitly win over `data_dir`, which wins over the Hub. `samples_per_label_*` = None keeps every
    row (use `**TASK_DEFAULTS[name]` for the paper's sizes). Raises DataError for unknown names, missing or malformed
    files, and for asking more rows of a class than it has.
    """
    name = task_name
    if name is None:
        if train_file is None:
            raise DataError("pass a task name or train_file=")
        name = "csv" if Path(train_file).suffix.lower() == ".csv" else "json"
    if name not in TASK_NAMES:
        raise DataError(f"unknown task {name!r}; expected one of {', '.join(TASK_NAMES)}")
    explicit = train_file is not None
    extra: dict[str, Any] = {}
    markers: tuple[str, ...] = ()
    if name in _CSV_TASKS:
        folder = _task_folder(data_dir, name, "train.csv") if data_dir is not None and not explicit else None
        raw, names, sources = _load_csv_task(name, folder, train_file, test_file, validation_file, use_title)
    elif name == "fewrel":
        folder = _task_folder(data_dir, name, "pid2name.json") if data_dir is not None and not explicit else None
        raw, names, sources, markers, extra = _load_fewrel(folder, train_file, test_file, validation_file,
                                                          entity_markers)
    else:
        raw, names, sources = _load_generic(train_file, test_file, validation_file, text_column, label_column)
    dataset = _sample(raw, names, name, sources, samples_per_label_train, samples_per_label_test,
                      validation_fraction, seed)
    return TaskData(
        name=name, dataset=dataset, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
        marker_tokens=tuple(markers), source=", ".join(dict.fromkeys(sources.values())), extra=extra,
    )


def load_task_texts(task_name: str, *, data_dir: str | Path | None = None) -> Dataset:
    """A task's training texts without their labels (column `text`): the corpus for task-adaptive MLM, continuing
    pre-training on the task's own unlabelled text (Gururangan et al. 2020, "Don't stop pretraining").

    Only the training file is read (`<data_dir>/<task>/train.csv`, else the Hub's train split), so no test text is
    ever seen; the labelled samples and the validation slice that fine-tuning draws all come from it. The text is what
    the classifier reads (`use_title` off). FewRel is refused: its test sentences are carved out of the same file
    per seed, so a corpus of that file would hold them.
    """
    if task_name not in TASK_TEXT_CORPORA:
        raise DataError(f"task {task_name!r}: task-adaptive pre-training reads the training texts of "
                        f"{' or '.join(TASK_TEXT_CORPORA)}, whose test rows are a separate file"
                        + ("; FewRel's test sentences come out of the same file" if task_name == "fewrel" else ""))
    folder = _task_folder(data_dir, task_name, "train.csv") if data_dir is not None else None
    raw, _, _ = _load_csv_task(task_name, folder, None, None, None, use_title=False)
    return raw["train"].select_columns(["text"])


def _tokenize_task_batch(batch: dict, tokenizer: Any, max_length: int) -> dict:
    enc = tokenizer(batch["text"], truncation=True, max_length=max_length, return_token_type_ids=False)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def tokenize_task(task: TaskData, tokenizer: Any, max_length: int = 128, num_proc: int | None = None) -> DatasetDict:
    """Tokenize every split of `task`: columns `input_ids`, `attention_mask`, `labels`; truncated to `max_length`,
    not padded (a DataCollatorWithPadding pads each batch). Batched and cached by `datasets`.

    If the task has marker tokens (FewRel), they are first added to `tokenizer` as special tokens (in place); the
    model then needs `model.resize_token_embeddings(len(tokenizer))`, and the tokenizer must be saved with it.
    """
    if task.marker_tokens:
        add_special_tokens(tokenizer, task.marker_tokens)
    tok_fp = tokenizer_fingerprint(tokenizer)
    out = {}
    for split, ds in task.dataset.items():
        out[split] = ds.map(
            _tokenize_task_batch,
            batched=True,
            fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
            remove_columns=["text"],
            num_proc=num_proc if num_proc and len(ds) >= num_proc else None,
            new_fingerprint=fingerprint("tokenize-task", ds._fingerprint, tok_fp, max_length),
            desc=f"Tokenizing {task.name} {split}",
        ).rename_column("label", "labels")
    return DatasetDict(out)
