"""Helpers shared by the data loaders: the error type, safe file reading and `datasets` caching.

Every loader turns its files into an Arrow-backed `datasets.Dataset` through :func:`cached_dataset`, keyed by a
fingerprint of the files' paths, sizes and modification times plus the loader's arguments. So a second run with the
same inputs reads the Arrow cache instead of re-parsing, and every later `map` (tokenization) hits its cache too,
because the fingerprints it derives from are stable across runs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable

import datasets
from datasets import Dataset, Features
from datasets.exceptions import DatasetGenerationError
from datasets.fingerprint import Hasher

# Bump when a parser changes what it produces, so stale caches are not reused.
CACHE_VERSION = "tlm-data-1"


class DataError(ValueError):
    """Bad input data or arguments. The message names the file (and line or field where known) and what was
    expected, so a user can fix the input without reading our code."""


def fingerprint(*parts: Any) -> str:
    """A stable hash of plain Python values (strings, numbers, lists, dicts), used as `datasets` fingerprints."""
    return Hasher.hash([CACHE_VERSION, *parts])


def file_signature(paths: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime) for each file: part of a cache key, so an edited file invalidates the cache."""
    out = []
    for p in paths:
        st = Path(p).stat()
        out.append((str(Path(p).resolve()), st.st_size, st.st_mtime_ns))
    return out


def require_path(path: str | os.PathLike, what: str = "file or folder") -> Path:
    """Return `path` as a Path, or raise DataError if it does not exist."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such {what}")
    return p


def read_utf8(path: Path) -> str:
    """Read a whole file as UTF-8; on bad bytes, raise DataError naming the file, line and byte."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path}, line {line}: byte 0x{data[e.start]:02x} at offset {e.start} is not valid UTF-8; "
            "expected UTF-8 encoded text (re-encode the file, e.g. with `iconv -t utf-8`)"
        ) from None


def cached_dataset(
    generator: Callable[..., Iterable[dict]],
    gen_kwargs: dict,
    features: Features,
    key: str,
    num_proc: int | None = None,
) -> Dataset:
    """`Dataset.from_generator` with an explicit fingerprint `key`, so the Arrow cache is found again on the next run
    (and parsing is skipped). A DataError raised inside the generator is re-raised as is, not wrapped in
    `DatasetGenerationError`, so users see what is wrong with their file."""
    try:
        return Dataset.from_generator(
            generator, features=features, gen_kwargs=gen_kwargs, fingerprint=key, num_proc=num_proc
        )
    except DatasetGenerationError as e:
        cause = e.__cause__ or e.__context__
        while cause is not None:
            if isinstance(cause, DataError):
                raise DataError(str(cause)) from None
            cause = cause.__cause__ or cause.__context__
        raise


def load_hub_dataset(path: str, name: str | None = None, **kwargs) -> Any:
    """`datasets.load_dataset` for Hub data, with a DataError that says how to work offline when it fails."""
    try:
        return datasets.load_dataset(path, name, **kwargs)
    except Exception as e:  # offline, unknown repo, no permission: all end the same way for the user
        raise DataError(
            f"could not load {path!r}{f' ({name})' if name else ''} from the Hugging Face Hub: {e}. "
            "Without network access, pass data_dir= (or --data_dir) pointing to local copies of the data"
        ) from e
