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


# The local Hub-compatible server for push/pull tests (session-scoped; see tests/hub_server.py).
from tests.hub_server import local_hub  # noqa: E402,F401


# ---- data module (modeling_tlm.data) fixtures ------------------------------------------------------------------------

TOY_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Anarchism is a political philosophy that advocates self-governed societies.",
    "The river crosses the valley near the old stone bridge.",
    "Stock markets rallied on Tuesday as oil prices fell.",
    "The team won the championship after a long season of football.",
    "A new telescope observes distant galaxies in the constellation Orion.",
    "She was married to the author of several novels and plays.",
    "The company was founded in 1998 and builds software for schools.",
]


@pytest.fixture(scope="module")
def datasets_cache(tmp_path_factory):
    """A private `datasets` cache for one test module, so tests neither read stale caches nor fill ~/.cache."""
    import datasets

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf_datasets_cache"))
        datasets.disable_progress_bars()
        yield


@pytest.fixture(scope="session")
def toy_tokenizer_dir(tmp_path_factory) -> Path:
    """A small WordPiece tokenizer trained on TOY_SENTENCES, so data tests run without ../shared/data."""
    from modeling_tlm.data import train_wordpiece_tokenizer

    out = tmp_path_factory.mktemp("toy_tokenizer")
    train_wordpiece_tokenizer(TOY_SENTENCES * 20, vocab_size=300, output_dir=out, min_frequency=1)
    return out


@pytest.fixture()
def toy_tokenizer(toy_tokenizer_dir):
    """A fresh copy of the toy tokenizer for each test (tests may add tokens to it)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(toy_tokenizer_dir))
