"""Pre-training corpus: every local format, packing, article heads, nested sizes, caching and bad input.

All files are written by the tests; the tokenizer is the toy WordPiece tokenizer from conftest (no ../shared/data).
"""
import json
import random

import datasets
import numpy as np
import pytest
from datasets import Dataset, IterableDataset

from modeling_tlm.data import DataError, build_mlm_datasets, load_pretraining_texts
from modeling_tlm.data import corpus
from tests.conftest import TOY_SENTENCES

pytestmark = pytest.mark.usefixtures("datasets_cache")

MAX_LEN = 16
WORDS = sorted({w.strip(".,").lower() for s in TOY_SENTENCES for w in s.split()})


def _article(i: int, n_sentences: int) -> str:
    """A seeded word salad over the toy tokenizer's words: different articles never share a sequence."""
    rng = random.Random(i)
    return " ".join(" ".join(rng.choice(WORDS) for _ in range(8)).capitalize() + "." for _ in range(n_sentences))


def _write_wikiextractor(folder, articles, per_file=3):
    """WikiExtractor layout: <folder>/AA/wiki_00, wiki_01, ... with <doc> blocks and a title line."""
    (folder / "AA").mkdir(parents=True)
    for f in range(0, len(articles), per_file):
        blocks = [
            f'<doc id="{i}" url="http://en.wikipedia.org/wiki?curid={i}" title="Title {i}">\n'
            f"Title {i}\n\n{text}\n</doc>\n"
            for i, text in enumerate(articles[f: f + per_file], start=f)
        ]
        (folder / "AA" / f"wiki_{f // per_file:02d}").write_text("".join(blocks), encoding="utf-8")
    return folder


@pytest.fixture()
def wiki_dir(tmp_path):
    return _write_wikiextractor(tmp_path / "wikipedia", [_article(i, 4 + i % 5) for i in range(30)])


def test_wikiextractor_folder_drops_tags_and_title(wiki_dir):
    texts = load_pretraining_texts(str(wiki_dir))
    assert texts.column_names == ["text"]
    assert len(texts) == 30
    assert texts[0]["text"] == _article(0, 4)
    assert not any("<doc" in t or "</doc>" in t or t.startswith("Title") for t in texts["text"][:])


def test_wikipedia_name_resolves_under_data_dir(wiki_dir):
    texts = load_pretraining_texts("wikipedia", data_dir=wiki_dir.parent)
    assert len(texts) == 30


def test_hub_wikipedia_is_asked_for_the_paper_config(monkeypatch):
    calls = []

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        return Dataset.from_dict({"id": ["1"], "url": ["u"], "title": ["t"], "text": ["An article."]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    texts = load_pretraining_texts("wikipedia")
    assert calls == [("wikimedia/wikipedia", "20231101.en", {"split": "train", "streaming": False})]
    assert texts.column_names == ["text"]


def test_plain_text_files_split_documents_on_blank_lines(tmp_path):
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "a.txt").write_text("First doc line one.\nLine two.\n\n\nSecond doc.\n", encoding="utf-8")
    (folder / "b.txt").write_text("Third doc.", encoding="utf-8")
    (folder / "README.md").write_text("not data", encoding="utf-8")
    texts = load_pretraining_texts(str(folder))
    assert texts["text"][:] == ["First doc line one.\nLine two.", "Second doc.", "Third doc."]
    assert list(load_pretraining_texts(str(folder / "b.txt"))["text"]) == ["Third doc."]


@pytest.mark.parametrize("suffix", ["jsonl", "parquet", "csv"])
def test_tables_with_a_named_text_column(tmp_path, suffix):
    rows = {"body": ["Doc one.", "", "Doc three."], "other": [1, 2, 3]}
    path = tmp_path / f"corpus.{suffix}"
    ds = Dataset.from_dict(rows)
    {"jsonl": ds.to_json, "parquet": ds.to_parquet, "csv": ds.to_csv}[suffix](str(path))
    texts = load_pretraining_texts(str(path), text_column="body")
    assert texts.column_names == ["text"]
    assert texts["text"][:] == ["Doc one.", "Doc three."]  # empty documents are dropped
    with pytest.raises(DataError, match=r"corpus\.%s: no text column 'text'.*body" % suffix):
        load_pretraining_texts(str(path))


def test_packed_blocks_are_full_and_cover_the_token_stream(wiki_dir, toy_tokenizer):
    tok = toy_tokenizer
    texts = load_pretraining_texts(str(wiki_dir))
    dd = build_mlm_datasets(texts, tok, max_length=MAX_LEN, eval_fraction=0, min_eval_sequences=0)
    assert set(dd) == {"train", "validation"} and len(dd["validation"]) == 0
    ids = np.array(dd["train"]["input_ids"][:])
    assert ids.shape[1] == MAX_LEN
    assert (ids[:, 0] == tok.cls_token_id).all() and (ids[:, -1] == tok.sep_token_id).all()
    assert not (ids == tok.pad_token_id).any()
    assert (np.array(dd["train"]["attention_mask"][:]) == 1).all()
    special = np.array(dd["train"]["special_tokens_mask"][:])
    assert (special == np.isin(ids, [tok.cls_token_id, tok.sep_token_id])).all()
    # The blocks are exactly the concatenated stream (document + [SEP], ...) cut into MAX_LEN - 2 pieces.
    stream = [t for text in texts["text"][:]
              for t in tok(text, add_special_tokens=False)["input_ids"] + [tok.sep_token_id]]
    body = MAX_LEN - 2
    expected = sorted(tuple(stream[i: i + body]) for i in range(0, len(stream) - body + 1, body))
    assert sorted(map(tuple, ids[:, 1:-1].tolist())) == expected


def test_article_head_is_one_padded_sequence_per_article(tmp_path, toy_tokenizer):
    tok = toy_tokenizer
    long_words = " ".join(["x" * 150] * 40)  # > 16*MAX_LEN characters, few tokens: the prefix shortcut must redo it
    articles = [_article(i, 1 + i % 40) for i in range(20)] + ["Short.", long_words + " " + _article(0, 3)]
    folder = _write_wikiextractor(tmp_path / "w", articles)
    texts = load_pretraining_texts(str(folder))
    dd = build_mlm_datasets(texts, tok, max_length=MAX_LEN, sequence_mode="article_head", min_eval_sequences=4)
    assert len(dd["train"]) + len(dd["validation"]) == len(articles) == len(texts)
    assert len(dd["validation"]) == 4
    got = {tuple(r) for r in dd["train"]["input_ids"][:] + dd["validation"]["input_ids"][:]}
    want = {tuple(tok(t, truncation=True, max_length=MAX_LEN, padding="max_length")["input_ids"]) for t in articles}
    assert got == want  # identical to tokenizing each whole article with truncation (the paper's way)
    assert any(tok.pad_token_id in r for r in got)


@pytest.mark.parametrize("mode", ["packed", "article_head"])
def test_sizes_nest_and_validation_is_fixed_and_disjoint(wiki_dir, toy_tokenizer, mode):
    texts = load_pretraining_texts(str(wiki_dir))
    kw = dict(max_length=MAX_LEN, sequence_mode=mode, min_eval_sequences=3, seed=7)
    sizes = (5, 10, 20)
    runs = [build_mlm_datasets(texts, toy_tokenizer, pre_train_size=n, **kw) for n in sizes]
    for n, dd in zip(sizes, runs):
        assert len(dd["train"]) == n
        assert dd["validation"]["input_ids"][:] == runs[0]["validation"]["input_ids"][:]
    small, mid, large = (dd["train"]["input_ids"][:] for dd in runs)
    assert large[:10] == mid and mid[:5] == small
    held_out = {tuple(r) for r in runs[0]["validation"]["input_ids"][:]}
    assert held_out.isdisjoint(map(tuple, large))
    other_seed = build_mlm_datasets(texts, toy_tokenizer, pre_train_size=20, **{**kw, "seed": 8})
    assert other_seed["train"]["input_ids"][:] != large


def test_packed_validation_comes_from_whole_held_out_documents(wiki_dir, toy_tokenizer):
    texts = load_pretraining_texts(str(wiki_dir))
    dd = build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN, min_eval_sequences=5)
    assert len(dd["validation"]) == 5
    assert len(dd["train"]) + 5 <= sum(
        (len(toy_tokenizer(t, add_special_tokens=False)["input_ids"]) + 1) for t in texts["text"][:]
    ) // (MAX_LEN - 2)


def test_too_small_corpus_is_a_clear_error(tmp_path, wiki_dir, toy_tokenizer):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("Short text.", encoding="utf-8")
    with pytest.raises(DataError, match=r"yields 0 packed sequences of 128 tokens"):
        build_mlm_datasets(load_pretraining_texts(str(tiny)), toy_tokenizer)
    texts = load_pretraining_texts(str(wiki_dir))
    with pytest.raises(DataError, match=r"yields \d+ training sequences of 16 tokens .*pre_train_size=100000"):
        build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN, pre_train_size=100_000, min_eval_sequences=2)
    with pytest.raises(DataError, match=r"yields 30 sequences \(one per article\).*hold out 256"):
        build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN, sequence_mode="article_head")
    with pytest.raises(DataError, match=r"yields 28 training sequences .*pre_train_size=29"):
        build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN, sequence_mode="article_head",
                           min_eval_sequences=2, pre_train_size=29)


def test_second_run_reads_the_cache(wiki_dir, toy_tokenizer, monkeypatch):
    texts = load_pretraining_texts(str(wiki_dir))
    first = build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN, min_eval_sequences=2)

    def fail(what):
        def f(*args, **kwargs):
            raise AssertionError(f"{what} ran although the cache holds its result")
        return f

    monkeypatch.setattr(corpus, "_generate_documents", fail("parsing"))
    monkeypatch.setattr(corpus, "_tokenize_documents_batch", fail("tokenizing"))
    monkeypatch.setattr(corpus, "_pack_batch", fail("packing"))
    again = build_mlm_datasets(load_pretraining_texts(str(wiki_dir)), toy_tokenizer, max_length=MAX_LEN,
                               min_eval_sequences=2)
    assert again["train"]["input_ids"][:] == first["train"]["input_ids"][:]
    # Other arguments make other cache entries, never stale results.
    with pytest.raises(AssertionError, match="packing ran"):  # documents stay tokenized; blocks are re-cut
        build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN + 1, min_eval_sequences=2)
    toy_tokenizer.add_tokens(["newtoken"])
    with pytest.raises(AssertionError, match="tokenizing ran"):
        build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN, min_eval_sequences=2)
    (wiki_dir / "AA" / "wiki_00").write_text('<doc id="1" url="u" title="T">\nT\nNew text.\n</doc>\n')
    with pytest.raises(datasets.exceptions.DatasetGenerationError) as err:
        load_pretraining_texts(str(wiki_dir))  # an edited file is parsed again
    assert "parsing ran" in str(err.value.__cause__)


def test_several_processes_give_the_same_sequences(wiki_dir, toy_tokenizer, monkeypatch):
    monkeypatch.setattr(corpus, "PACK_BATCH_SIZE", 4)  # several packing batches: their boundaries must not move
    texts = load_pretraining_texts(str(wiki_dir), num_proc=2)
    one = build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN, min_eval_sequences=2)
    two = build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN, min_eval_sequences=2, num_proc=2)
    assert one["train"]["input_ids"][:] == two["train"]["input_ids"][:]


def test_streaming(wiki_dir, toy_tokenizer):
    texts = load_pretraining_texts(str(wiki_dir), streaming=True)
    assert isinstance(texts, IterableDataset)
    dd = build_mlm_datasets(texts, toy_tokenizer, max_length=MAX_LEN, pre_train_size=7, min_eval_sequences=3)
    train, val = list(dd["train"]), list(dd["validation"])
    assert len(train) == 7 and len(val) == 3
    assert all(len(r["input_ids"]) == MAX_LEN and toy_tokenizer.pad_token_id not in r["input_ids"] for r in train)


def test_bad_input(tmp_path, toy_tokenizer):
    with pytest.raises(DataError, match=r"nowhere: no such file or folder"):
        load_pretraining_texts(str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"no such file or folder"):
        load_pretraining_texts("wikipedia", data_dir=tmp_path)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Line one.\nCaf\xe9 au lait.\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt, line 2: byte 0xe9 .* not valid UTF-8"):
        load_pretraining_texts(str(bad))
    unclosed = tmp_path / "wiki" / "wiki_00"
    unclosed.parent.mkdir()
    unclosed.write_text('<doc id="1" url="u" title="T">\nT\nSome text.\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"wiki_00: the last <doc \.\.\.> block is not closed by </doc>"):
        load_pretraining_texts(str(unclosed.parent))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: no data files found"):
        load_pretraining_texts(str(empty))
    texts = Dataset.from_dict({"text": ["a b c"] * 10})
    with pytest.raises(DataError, match=r"sequence_mode='chunks'; expected one of"):
        build_mlm_datasets(texts, toy_tokenizer, sequence_mode="chunks")
    with pytest.raises(DataError, match=r"need a 'text' column"):
        build_mlm_datasets(Dataset.from_dict({"body": ["x"]}), toy_tokenizer)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.txt").write_text("x", encoding="utf-8")
    (mixed / "b.jsonl").write_text(json.dumps({"text": "y"}), encoding="utf-8")
    with pytest.raises(DataError, match=r"mixes file types"):
        load_pretraining_texts(str(mixed))


def test_text_file_without_documents_is_a_data_error(tmp_path, datasets_cache):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n   \n", encoding="utf-8")
    with pytest.raises(DataError, match=r"blank\.txt: the text files hold no documents"):
        load_pretraining_texts(str(blank))
