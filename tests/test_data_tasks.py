"""Classification tasks: every loader on small files in the official formats, sampling, tokenization, bad input."""
import csv
import json

import datasets
import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict

from modeling_tlm.data import TASK_DEFAULTS, DataError, load_task, load_task_texts, tokenize_task
from modeling_tlm.data import tasks as tasks_module

pytestmark = pytest.mark.usefixtures("datasets_cache")

AG_CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
DB_CLASSES = ["Company", "EducationalInstitution", "Artist"]


def _write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    return path


def _zhang_folder(root, name, classes, n_train, n_test):
    """An official Zhang et al. CSV task folder: train.csv / test.csv (1-based labels, no header) + classes.txt."""
    folder = root / name
    for split, n in (("train", n_train), ("test", n_test)):
        _write_csv(folder / f"{split}.csv", [
            [str(k + 1), f"Title {split} {k} {i}", f"Body {split} {k} {i}\\second line"]
            for i in range(n) for k in range(len(classes))
        ])
    (folder / "classes.txt").write_text("\n".join(classes) + "\n", encoding="utf-8")
    return folder


def _fewrel_instance(i, rel):
    tokens = ["The", "river", f"R{rel}x{i}", " ", "flows", "into", "Lake", "Z", "."]
    return {"tokens": tokens, "h": [f"r{i}", "Q1", [[2]]], "t": ["lake z", "Q2", [[6, 7]]]}


def _fewrel_folder(root, relations=("P1", "P2", "P3"), per_relation=20, file_name="val_wiki.json"):
    folder = root / "fewrel"
    folder.mkdir(parents=True, exist_ok=True)
    data = {rel: [_fewrel_instance(i, rel) for i in range(per_relation)] for rel in relations}
    (folder / file_name).write_text(json.dumps(data), encoding="utf-8")
    names = {rel: [f"name of {rel}", "a description"] for rel in relations}
    (folder / "pid2name.json").write_text(json.dumps(names), encoding="utf-8")
    return folder


@pytest.fixture()
def data_root(tmp_path):
    _zhang_folder(tmp_path, "ag_news", AG_CLASSES, n_train=30, n_test=12)
    _zhang_folder(tmp_path, "dbpedia_14", DB_CLASSES, n_train=25, n_test=10)
    _fewrel_folder(tmp_path)
    return tmp_path


def _rows(ds):
    return list(zip(ds["text"][:], ds["label"][:]))


def _counts(ds, k):
    return np.bincount(np.asarray(ds["label"][:]), minlength=k).tolist()


def test_ag_news_official_csv(data_root):
    task = load_task("ag_news", data_dir=data_root)
    assert task.name == "ag_news" and task.num_labels == 4
    assert task.id2label == dict(enumerate(AG_CLASSES)) and task.label2id["Sci/Tech"] == 3
    assert set(task.dataset) == {"train", "validation", "test"}
    assert task.dataset["train"].column_names == ["text", "label"]
    assert task.dataset["train"].features["label"].names == AG_CLASSES
    assert len(task.dataset["test"]) == 48
    assert len(task.dataset["train"]) + len(task.dataset["validation"]) == 120
    first = sorted(_rows(task.dataset["test"]))[0]
    # title + " " + description; the "\" of the CSV becomes a newline; 1-based class index -> 0-based label
    assert first == ("Title test 0 0 Body test 0 0\nsecond line", 0)


def test_dbpedia_uses_content_only_unless_asked(data_root):
    task = load_task("dbpedia_14", data_dir=data_root)
    assert task.id2label == dict(enumerate(DB_CLASSES))
    text = task.dataset["test"][0]["text"]
    assert text.startswith("Body test") and "Title" not in text
    assert "\\" in text  # DBpedia has no backslash escapes: text is kept as is
    with_title = load_task("dbpedia_14", data_dir=data_root, use_title=True)
    assert with_title.dataset["test"][0]["text"].startswith("Title test")


def test_task_texts_for_task_adaptive_pre_training_are_the_training_file_only(data_root):
    """The texts the classifier reads, every training row, no label and no test row; FewRel, whose test rows come
    out of the same file, is refused with the reason."""
    texts = load_task_texts("ag_news", data_dir=data_root)
    assert texts.column_names == ["text"] and len(texts) == 120
    task = load_task("ag_news", data_dir=data_root)
    assert set(texts["text"]) == set(task.dataset["train"]["text"]) | set(task.dataset["validation"]["text"])
    assert not set(texts["text"]) & set(task.dataset["test"]["text"])
    assert load_task_texts("dbpedia_14", data_dir=data_root)[0]["text"].startswith("Body train")  # content only
    with pytest.raises(DataError, match="FewRel's test sentences come out of the same file"):
        load_task_texts("fewrel", data_dir=data_root)


def test_hub_copies_are_converted_the_same_way(monkeypatch):
    def fake_load_dataset(path, name=None, **kwargs):
        if path == "fancyzhx/ag_news":
            feats = datasets.Features({"text": datasets.Value("string"), "label": ClassLabel(names=AG_CLASSES)})
            split = {"text": [f"T{i} Body\\line" for i in range(8)], "label": [i % 4 for i in range(8)]}
        else:
            feats = datasets.Features({"label": ClassLabel(names=DB_CLASSES), "title": datasets.Value("string"),
                                       "content": datasets.Value("string")})
            split = {"label": [i % 3 for i in range(9)], "title": ["T"] * 9, "content": [f"C{i}" for i in range(9)]}
        ds = Dataset.from_dict(split, features=feats)
        return DatasetDict(train=ds, test=ds)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ag = load_task("ag_news", samples_per_label_train=1, samples_per_label_test=2)
    assert ag.source.startswith("fancyzhx/ag_news") and ag.id2label[3] == "Sci/Tech"
    assert {len(ag.dataset[s]) for s in ("train", "validation", "test")} == {4, 8}
    assert ag.dataset["test"][0]["text"] == "T0 Body\nline"
    db = load_task("dbpedia_14", samples_per_label_test=3)
    assert db.dataset["test"]["text"][:2] == ["C0", "C1"]
    assert load_task("dbpedia_14", use_title=True).dataset["test"][0]["text"] == "T C0"


def test_data_dir_may_be_the_task_folder_itself_and_files_may_be_explicit(data_root):
    direct = load_task("ag_news", data_dir=data_root / "ag_news")
    explicit = load_task("ag_news", train_file=data_root / "ag_news" / "train.csv",
                         test_file=data_root / "ag_news" / "test.csv")
    by_name = load_task("ag_news", data_dir=data_root)
    for split in ("train", "validation", "test"):
        assert _rows(direct.dataset[split]) == _rows(by_name.dataset[split]) == _rows(explicit.dataset[split])
    assert explicit.id2label[3] == "Sci/Tech"  # classes.txt next to the train file


def test_samples_per_label_are_stratified_seeded_and_nested(data_root):
    small = load_task("ag_news", data_dir=data_root, samples_per_label_train=5, samples_per_label_test=3)
    large = load_task("ag_news", data_dir=data_root, samples_per_label_train=10, samples_per_label_test=6)
    for t, n, m in ((small, 5, 3), (large, 10, 6)):
        assert _counts(t.dataset["train"], 4) == [n] * 4
        assert _counts(t.dataset["test"], 4) == [m] * 4
        assert _counts(t.dataset["validation"], 4) == [1] * 4  # ceil(0.1 * n) per label
        train, val = set(_rows(t.dataset["train"])), set(_rows(t.dataset["validation"]))
        assert not train & val
        assert all(text.startswith("Title train") for text, _ in val)  # validation never comes from test
    assert set(_rows(small.dataset["train"])) <= set(_rows(large.dataset["train"]))
    assert set(_rows(small.dataset["test"])) <= set(_rows(large.dataset["test"]))
    again = load_task("ag_news", data_dir=data_root, samples_per_label_train=5, samples_per_label_test=3)
    assert _rows(again.dataset["train"]) == _rows(small.dataset["train"])
    other = load_task("ag_news", data_dir=data_root, samples_per_label_train=5, samples_per_label_test=3, seed=1)
    assert _rows(other.dataset["train"]) != _rows(small.dataset["train"])


def test_asking_for_more_than_a_class_has_names_the_class(data_root):
    with pytest.raises(DataError, match=r"class 'World' has 12 rows in the test split \(.*test\.csv\); "
                                        r"samples_per_label_test=13 asks for more"):
        load_task("ag_news", data_dir=data_root, samples_per_label_test=13)
    with pytest.raises(DataError, match=r"class 'World' has 30 rows in the train split .*samples_per_label_train=31"):
        load_task("ag_news", data_dir=data_root, samples_per_label_train=31)


def test_pool_too_small_for_validation_shrinks_training_with_a_warning(data_root, caplog):
    task = load_task("ag_news", data_dir=data_root, samples_per_label_train=30)
    assert _counts(task.dataset["train"], 4) == [27] * 4 and _counts(task.dataset["validation"], 4) == [3] * 4
    assert "shrink" in caplog.text
    exact = load_task("ag_news", data_dir=data_root, samples_per_label_train=30, validation_fraction=0)
    assert _counts(exact.dataset["train"], 4) == [30] * 4 and len(exact.dataset["validation"]) == 0


def test_fewrel_single_file_is_split_per_relation(data_root):
    task = load_task("fewrel", data_dir=data_root)
    assert task.id2label == {0: "name of P1", 1: "name of P2", 2: "name of P3"}
    assert task.extra["relation_ids"] == ["P1", "P2", "P3"]
    assert task.marker_tokens == ("[E1]", "[/E1]", "[E2]", "[/E2]")
    assert _counts(task.dataset["test"], 3) == [2] * 3  # 10% of 20 per relation
    assert _counts(task.dataset["train"], 3) == [16] * 3 and _counts(task.dataset["validation"], 3) == [2] * 3
    splits = [set(task.dataset[s]["text"]) for s in ("train", "validation", "test")]
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    text = task.dataset["train"][0]["text"]
    assert text.startswith("The river [E1] R") and text.endswith("[/E1] flows into [E2] Lake Z [/E2] .")
    paper = load_task("fewrel", data_dir=data_root, samples_per_label_train=18, samples_per_label_test=2,
                      validation_fraction=0)  # 630/70 of 700, scaled to 18/2 of 20
    assert _counts(paper.dataset["train"], 3) == [18] * 3 and _counts(paper.dataset["test"], 3) == [2] * 3
    punct = load_task("fewrel", data_dir=data_root, entity_markers="punct")
    assert punct.marker_tokens == () and "@ R" in punct.dataset["test"][0]["text"]


def test_fewrel_official_names_and_separate_files(tmp_path):
    folder = _fewrel_folder(tmp_path, file_name="train_wiki.json")
    (folder / "val_wiki.json").write_text(json.dumps({"P9": [_fewrel_instance(0, "P9")]}), encoding="utf-8")
    task = load_task("fewrel", data_dir=tmp_path)
    assert task.source.endswith("train_wiki.json")  # preferred: the paper used train_wiki.json
    test = tmp_path / "test.json"
    test.write_text(json.dumps({"P2": [_fewrel_instance(i, "P2") for i in range(4)]}), encoding="utf-8")
    split = load_task("fewrel", train_file=folder / "train_wiki.json", test_file=test)
    assert _counts(split.dataset["test"], 3) == [0, 4, 0]
    assert split.id2label[1] == "name of P2"
    with pytest.raises(DataError, match=r"val_wiki\.json: relations \['P9'\] do not occur in the training file"):
        load_task("fewrel", train_file=folder / "train_wiki.json", test_file=folder / "val_wiki.json")


def test_generic_csv_and_jsonl(tmp_path):
    train = tmp_path / "train.csv"
    Dataset.from_dict({"sentence": [f"s{i}" for i in range(20)], "y": ["pos", "neg"] * 10}).to_csv(str(train))
    task = load_task("csv", train_file=train, text_column="sentence", label_column="y", samples_per_label_test=2)
    assert task.id2label == {0: "neg", 1: "pos"}
    assert _counts(task.dataset["test"], 2) == [2, 2]  # no test file: split off per label
    jsonl = tmp_path / "train.jsonl"
    Dataset.from_dict({"text": [f"t{i}" for i in range(12)], "label": [3, 1, 2] * 4}).to_json(str(jsonl))
    test = tmp_path / "test.jsonl"
    Dataset.from_dict({"text": ["a", "b"], "label": [1, 3]}).to_json(str(test))
    task = load_task(None, train_file=jsonl, test_file=test)
    assert task.name == "json" and task.id2label == {0: "1", 1: "2", 2: "3"}
    assert sorted(_rows(task.dataset["test"])) == [("a", 0), ("b", 2)]
    bad_test = tmp_path / "bad.jsonl"
    Dataset.from_dict({"text": ["a"], "label": [7]}).to_json(str(bad_test))
    with pytest.raises(DataError, match=r"bad\.jsonl: row 1, field 'label' is 7; expected one of"):
        load_task("json", train_file=jsonl, test_file=bad_test)
    with pytest.raises(DataError, match=r"train\.csv: no column 'text'; its columns are \['sentence', 'y'\]"):
        load_task("csv", train_file=train, label_column="y")


def test_tokenize_task_truncates_without_padding_and_is_cached(data_root, toy_tokenizer, monkeypatch):
    task = load_task("ag_news", data_dir=data_root, samples_per_label_train=4, samples_per_label_test=2)
    tok = tokenize_task(task, toy_tokenizer, max_length=8)
    assert set(tok) == {"train", "validation", "test"}
    assert set(tok["train"].column_names) == {"input_ids", "attention_mask", "labels"}
    assert tok["train"]["labels"][:] == list(task.dataset["train"]["label"])
    lengths = {len(ids) for ids in tok["train"]["input_ids"]}
    assert max(lengths) == 8 and all(ids[0] == toy_tokenizer.cls_token_id for ids in tok["train"]["input_ids"])
    short = tokenize_task(task, toy_tokenizer, max_length=128)
    assert len({len(ids) for ids in short["train"]["input_ids"]}) > 1  # not padded: the collator pads per batch

    def fail(*args, **kwargs):
        raise AssertionError("re-tokenized although the cache holds the result")

    monkeypatch.setattr(tasks_module, "_tokenize_task_batch", fail)
    again = tokenize_task(load_task("ag_news", data_dir=data_root, samples_per_label_train=4,
                                    samples_per_label_test=2), toy_tokenizer, max_length=8)
    assert again["test"]["input_ids"][:] == tok["test"]["input_ids"][:]


def test_tokenize_fewrel_adds_marker_tokens(data_root, toy_tokenizer):
    n = len(toy_tokenizer)
    task = load_task("fewrel", data_dir=data_root)
    tok = tokenize_task(task, toy_tokenizer)
    assert len(toy_tokenizer) == n + 4
    marker_ids = toy_tokenizer.convert_tokens_to_ids(list(task.marker_tokens))
    assert marker_ids == list(range(n, n + 4))
    ids = tok["test"][0]["input_ids"]
    assert [i for i in ids if i >= n] == marker_ids[:2] + marker_ids[2:]  # each marker is one token, in order
    tokenize_task(task, toy_tokenizer)
    assert len(toy_tokenizer) == n + 4  # adding is idempotent


def test_bad_input(tmp_path, data_root):
    with pytest.raises(DataError, match=r"unknown task 'imdb'; expected one of ag_news, dbpedia_14, fewrel, csv"):
        load_task("imdb", data_dir=data_root)
    with pytest.raises(DataError, match=r"nowhere: no such data folder"):
        load_task("ag_news", data_dir=tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"no dbpedia_14/ folder with train\.csv"):
        load_task("dbpedia_14", data_dir=tmp_path / "ag_news")
    with pytest.raises(DataError, match=r"missing\.csv: no such file"):
        load_task("ag_news", train_file=tmp_path / "missing.csv")

    cols = _write_csv(tmp_path / "cols" / "train.csv", [["1", "t", "d"], ["2", "t", "d"], ["1", "only two"]])
    with pytest.raises(DataError, match=r"cols/train\.csv, line 3: 2 columns; expected 3 \(class_index,title,"):
        load_task("ag_news", train_file=cols)
    label = _write_csv(tmp_path / "label" / "train.csv", [["1", "t", "d"], ["5", "t", "d"]])
    (tmp_path / "label" / "classes.txt").write_text("\n".join(AG_CLASSES), encoding="utf-8")
    with pytest.raises(DataError, match=r"label/train\.csv, line 2: class_index is '5'; expected an integer from 1 "
                                        r"to 4"):
        load_task("ag_news", train_file=label)
    header = _write_csv(tmp_path / "header" / "train.csv", [["label", "title", "content"], ["1", "t", "c"]])
    with pytest.raises(DataError, match=r"line 1: label is 'label'; expected an integer .* no header row"):
        load_task("dbpedia_14", train_file=header)
    latin = tmp_path / "latin" / "train.csv"
    latin.parent.mkdir()
    latin.write_bytes('"1","t","ok"\n"2","t","caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin/train\.csv, line 2: byte 0xe9 .* not valid UTF-8"):
        load_task("ag_news", train_file=latin)

    latin_jsonl = tmp_path / "latin.jsonl"
    latin_jsonl.write_bytes('{"text": "ok", "label": 1}\n{"text": "caf\xe9", "label": 2}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.jsonl, line 2: byte 0xe9 .* not valid UTF-8"):
        load_task("json", train_file=latin_jsonl)

    fr = tmp_path / "fr"
    fr.mkdir()
    (fr / "a.json").write_text(json.dumps([{"tokens": ["x"]}]), encoding="utf-8")
    with pytest.raises(DataError, match=r"a\.json: expected a JSON object \{relation_id: \[instances\]\}"):
        load_task("fewrel", train_file=fr / "a.json")
    (fr / "b.json").write_text(json.dumps({"P1": [{"tokens": ["x", "y"], "h": ["x", "Q", [[0]]]}]}), encoding="utf-8")
    with pytest.raises(DataError, match=r"b\.json: relation 'P1', instance 0: field 't' is null; expected \[name, "):
        load_task("fewrel", train_file=fr / "b.json")
    (fr / "c.json").write_text(json.dumps({"P1": [{"tokens": ["x"], "h": ["x", "Q", [[0]]], "t": ["x", "Q", [[5]]]}]}))
    with pytest.raises(DataError, match=r"c\.json: relation 'P1', instance 0: field 't' .*positions in 0\.\.0"):
        load_task("fewrel", train_file=fr / "c.json")
    (fr / "d.json").write_text('{"P1": [', encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.json, line 1, column 9: not valid JSON"):
        load_task("fewrel", train_file=fr / "d.json")
    with pytest.raises(DataError, match=r"FewRel has no loadable Hub copy"):
        load_task("fewrel")
    with pytest.raises(DataError, match=r"entity_markers='xml'"):
        load_task("fewrel", data_dir=data_root, entity_markers="xml")


def test_task_defaults_are_the_papers():
    assert TASK_DEFAULTS == {
        "ag_news": {"samples_per_label_train": 1000, "samples_per_label_test": 1000},
        "dbpedia_14": {"samples_per_label_train": 100, "samples_per_label_test": 100},
        "fewrel": {"samples_per_label_train": 630, "samples_per_label_test": 70},
    }
