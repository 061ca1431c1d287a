"""experiments/contamination.py: word n-gram overlap of downstream test texts with the pre-training corpora."""
import csv
import json

import numpy as np
import pytest

from experiments import contamination

COPIED = "the quick brown fox jumps over the lazy dog near the old stone bridge at dawn today"  # 17 words
PARTLY = "markets rallied on tuesday as oil prices fell sharply across asia and europe while bonds slipped again"
UNSEEN = "a completely different sentence about telescopes galaxies and the constellation orion seen from chile"


def _csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)


@pytest.fixture()
def data(tmp_path, datasets_cache):
    """Wikipedia (WikiExtractor layout) holding one AG News test text verbatim and 13 words of another."""
    wiki = tmp_path / "wikipedia" / "AA"
    wiki.mkdir(parents=True)
    partly = " ".join(PARTLY.split()[:13])
    (wiki / "wiki_00").write_text(f'<doc id="1" url="u" title="A">\nA\n\nBefore it. {COPIED.capitalize()}. After.\n'
                                  f'</doc>\n<doc id="2" url="u" title="B">\nB\n\n{partly} and then other words.\n</doc>\n',
                                  encoding="utf-8")
    folder = tmp_path / "ag_news"
    test = [COPIED, PARTLY, UNSEEN, "too short to have one"]
    _csv(folder / "test.csv", [[str(i % 4 + 1), "", text] for i, text in enumerate(test)])
    # the training file repeats the unseen test text: the task-adaptive corpus holds it, Wikipedia does not
    _csv(folder / "train.csv", [[str(k % 4 + 1), "", f"train text {k} " + UNSEEN] for k in range(12)])
    (folder / "classes.txt").write_text("World\nSports\nBusiness\nSci/Tech\n", encoding="utf-8")
    return tmp_path


def test_rolling_hash_matches_windows_and_not_shorter_texts():
    vocab = contamination.Vocabulary()
    ids = vocab.encode("a b c a b c d")
    h = contamination.ngram_hashes(ids, 3)
    assert len(h) == 5 and h[0] == h[3] and len(set(h.tolist())) == 4  # "a b c" twice, the rest distinct
    assert len(contamination.ngram_hashes(vocab.encode("a b"), 3)) == 0
    corpus = np.unique(h)
    assert contamination.contains(corpus, h).all()
    assert not contamination.contains(corpus, contamination.ngram_hashes(vocab.encode("c b a"), 3)).any()


def test_the_check_finds_a_copied_test_text_and_a_shared_ngram(data, tmp_path):
    out = tmp_path / "out"
    assert contamination.main(["--data_dir", str(data), "--output_dir", str(out), "--tasks", "ag_news"]) == 0
    rows = {r["corpus"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    wiki, own = rows["wikipedia"], rows["ag_news training texts"]
    assert (wiki["test_texts"], wiki["shorter_than_n"], wiki["touched"], wiki["covered"]) == (4, 1, 2, 1)
    # COPIED: all 5 of its 13-grams; PARTLY (17 words): 1 of its 5; UNSEEN (14 words): 0 of its 2
    assert (wiki["ngrams"], wiki["ngrams_shared"]) == (5 + 5 + 2, 5 + 1)
    assert (own["touched"], own["covered"]) == (1, 1) and own["corpus_documents"] == 12


def test_bad_flags_name_what_was_expected(tmp_path):
    from modeling_tlm.training.checks import ArgumentError

    with pytest.raises(ArgumentError, match="no wikipedia/ folder"):
        contamination.parse_args(["--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "o")])
    with pytest.raises(ArgumentError, match="--ngram 0"):
        contamination.parse_args(["--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "o"), "--ngram", "0"])
