"""The loaders on the real data in ../shared/data (skipped where it is absent): counts as documented in its README.

Full-size only for cheap checks (CSV row counts, FewRel); packing and article heads use two Wikipedia files.
"""
import numpy as np
import pytest

from modeling_tlm.data import TASK_DEFAULTS, DataError, build_mlm_datasets, load_pretraining_texts, load_task
from modeling_tlm.data import load_tokenizer

pytestmark = pytest.mark.usefixtures("datasets_cache")

DBPEDIA_CLASSES = ["Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation",
                   "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"]


def _counts(ds, k):
    return np.bincount(np.asarray(ds["label"][:]), minlength=k).tolist()


@pytest.fixture(scope="module")
def bert(bert_tokenizer_dir):
    return load_tokenizer(bert_tokenizer_dir)


def test_ag_news(data_dir):
    task = load_task("ag_news", data_dir=data_dir)
    d = task.dataset
    assert len(d["train"]) + len(d["validation"]) == 20_000
    assert [a + b for a, b in zip(_counts(d["train"], 4), _counts(d["validation"], 4))] == [5000] * 4
    assert _counts(d["test"], 4) == [950] * 4
    # The README lists "Sci/Tech" (the official name); this copy of classes.txt says "Tech". Names come from the file.
    assert [task.id2label[i] for i in range(3)] == ["World", "Sports", "Business"]
    assert task.id2label[3] in ("Sci/Tech", "Tech")
    texts = d["train"]["text"][:] + d["validation"]["text"][:] + d["test"]["text"][:]
    # train.csv line 1, as title + " " + description
    first = "Explosion Rocks Baghdad Neighborhood BAGHDAD, Iraq, August 24 -- A car bomb exploded"
    assert first in [t[: len(first)] for t in texts]
    assert not any("\\" in t for t in texts)  # "\" newline escapes are undone

    paper = load_task("ag_news", data_dir=data_dir, samples_per_label_train=1000, samples_per_label_test=950)
    assert _counts(paper.dataset["train"], 4) == [1000] * 4 and _counts(paper.dataset["validation"], 4) == [100] * 4
    assert len(paper.dataset["test"]) == 3800
    # The paper tests on 1000 per class of the full test split; this copy holds half of it (950 per class).
    with pytest.raises(DataError, match=r"class 'World' has 950 rows in the test split .*samples_per_label_test=1000"):
        load_task("ag_news", data_dir=data_dir, **TASK_DEFAULTS["ag_news"])


def test_dbpedia_14(data_dir):
    task = load_task("dbpedia_14", data_dir=data_dir, validation_fraction=0)
    assert task.id2label == dict(enumerate(DBPEDIA_CLASSES))
    assert len(task.dataset["train"]) == 5000
    assert _counts(task.dataset["train"], 14) == [350, 359, 376, 337, 332, 354, 353, 370, 357, 354, 372, 380, 369, 337]
    # The README says 2,500 test rows; the file holds 2,501 (checked with Python's csv module as well).
    assert len(task.dataset["test"]) == 2501
    # train.csv line 1: the content only (the title column is empty in this copy)
    assert any(t.startswith("Mfumu'eto is a magazine that was") for t in task.dataset["train"]["text"])

    paper = load_task("dbpedia_14", data_dir=data_dir, **TASK_DEFAULTS["dbpedia_14"])
    assert _counts(paper.dataset["train"], 14) == [100] * 14
    assert _counts(paper.dataset["validation"], 14) == [10] * 14
    assert _counts(paper.dataset["test"], 14) == [100] * 14


def test_fewrel(data_dir):
    task = load_task("fewrel", data_dir=data_dir, **TASK_DEFAULTS["fewrel"], validation_fraction=0)
    assert task.source.endswith("fewrel/val_wiki.json") and task.num_labels == 16
    assert task.extra["relation_ids"][:2] == ["P177", "P364"]
    assert task.id2label[0] == "crosses" and task.id2label[1] == "original language of film or TV show"
    assert _counts(task.dataset["train"], 16) == [630] * 16  # the paper's 630/70 of 700 per relation
    assert _counts(task.dataset["test"], 16) == [70] * 16
    assert not set(task.dataset["train"]["text"]) & set(task.dataset["test"]["text"])
    assert all(sum(t.count(m) for m in task.marker_tokens) == 4 for t in task.dataset["test"]["text"])
    with_val = load_task("fewrel", data_dir=data_dir, **TASK_DEFAULTS["fewrel"])
    assert _counts(with_val.dataset["train"], 16) == [567] * 16  # 630 - 63: room for the validation slice
    assert _counts(with_val.dataset["validation"], 16) == [63] * 16


def test_wikipedia_documents(data_dir):
    texts = load_pretraining_texts("wikipedia", data_dir=data_dir)
    assert len(texts) == 6510  # the README's 6,514 articles, less 4 that have a title and no text
    assert texts[0]["text"].startswith("Anarchism is a political philosophy")


@pytest.fixture(scope="module")
def two_wiki_files(data_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("wiki2")
    for name in ("wiki_00", "wiki_01"):
        (folder / name).symlink_to(data_dir / "wikipedia" / "enwiki-2015-AA" / name)
    return load_pretraining_texts(str(folder))


def test_wikipedia_packing(two_wiki_files, bert):
    texts = two_wiki_files
    dd = build_mlm_datasets(texts, bert, pre_train_size=1000)
    assert (len(dd["train"]), len(dd["validation"])) == (1000, 256)
    ids = np.array(dd["train"]["input_ids"][:])
    assert ids.shape == (1000, 128) and not (ids == bert.pad_token_id).any()
    assert (ids[:, 0] == 101).all() and (ids[:, -1] == 102).all()
    everything = build_mlm_datasets(texts, bert, eval_fraction=0, min_eval_sequences=0)
    n_tokens = sum(len(x) + 1 for x in bert(texts["text"][:], add_special_tokens=False)["input_ids"])
    assert len(everything["train"]) == n_tokens // 126  # one packing batch: only the final remainder is dropped


def test_wikipedia_article_head(two_wiki_files, bert):
    dd = build_mlm_datasets(two_wiki_files, bert, sequence_mode="article_head", min_eval_sequences=10)
    assert len(dd["train"]) + len(dd["validation"]) == len(two_wiki_files)
    row = dd["train"][0]
    assert len(row["input_ids"]) == 128 and row["input_ids"][0] == 101
