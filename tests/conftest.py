"""Shared pytest fixtures.

Tests that need the real data (Wikipedia, AG News, DBpedia-14, FewRel, the bert-base-uncased tokenizer) read it from
one place: the folder named by ``TLM_DATA_DIR`` (default ``../shared/data`` relative to the repository root). Where it
is missing they skip and say why, so a clone without the data still runs every other test.
"""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("TLM_DATA_DIR", REPO_ROOT.parent / "shared" / "data")).resolve()

# Everything runs offline: no test may reach the real Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The local data folder laid out like ../shared/data; skips the test where it is absent."""
    if not (DATA_DIR / "README.md").exists():
        pytest.skip(f"real data not found at {DATA_DIR} (set TLM_DATA_DIR to a folder laid out like ../shared/data)")
    return DATA_DIR


@pytest.fixture(scope="session")
def bert_tokenizer_dir(data_dir) -> Path:
    """The bert-base-uncased tokenizer folder inside the data folder."""
    return data_dir / "bert-base-uncased"
