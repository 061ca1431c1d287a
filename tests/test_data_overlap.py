"""Token overlap: hand-checkable numbers, special tokens, and the command on a tiny data folder."""
import csv
import json
import os
import subprocess
import sys

import pytest
from datasets import Dataset, DatasetDict

from modeling_tlm.data import DataError, token_counts, token_overlap
from modeling_tlm.data.__main__ import main as data_main
from tests.conftest import TOY_SENTENCES

pytestmark = pytest.mark.usefixtures("datasets_cache")


def test_toy_overlap_by_hand():
    pretrain = [[1, 2, 2, 3], [2, 9]]  # counts: 1:1, 2:3, 3:1, 9:1
    task = [[2, 3, 4], [4, 5]]  # 5 occurrences of 4 types: 2, 3, 4 (twice), 5
    r = token_overlap(pretrain, task)
    assert r["task_tokens"] == 5 and r["task_types"] == 4
    assert r["covered_tokens"] == 2 and r["covered_types"] == 2  # 2 and 3 occur in pre-training
    assert r["token_share"] == pytest.approx(2 / 5) and r["type_share"] == pytest.approx(2 / 4)
    assert r["pretrain_tokens"] == 6 and r["pretrain_types"] == 4
    r2 = token_overlap(pretrain, task, min_count=2)  # only token 2 occurs at least twice
    assert (r2["token_share"], r2["type_share"]) == (pytest.approx(1 / 5), pytest.approx(1 / 4))
    r3 = token_overlap(pretrain, task, special_ids=[5])  # 5 left out: 4 occurrences of 3 types
    assert (r3["token_share"], r3["type_share"]) == (pytest.approx(2 / 4), pytest.approx(2 / 3))


def test_datasets_and_counts_are_accepted_and_special_tokens_left_out():
    # [CLS]=101 and [SEP]=102 flagged by special_tokens_mask in pre-training; the task excludes them by id.
    pre = Dataset.from_dict({"input_ids": [[101, 7, 8, 102], [101, 7, 7, 102]],
                             "special_tokens_mask": [[1, 0, 0, 1], [1, 0, 0, 1]]})
    assert token_counts(pre) == {7: 3, 8: 1}
    task = DatasetDict(train=Dataset.from_dict({"input_ids": [[101, 7, 9, 102]], "labels": [0]}),
                       test=Dataset.from_dict({"input_ids": [[101, 8, 102]], "labels": [1]}))
    r = token_overlap(pre, task, special_ids=[101, 102])
    assert (r["task_tokens"], r["covered_tokens"], r["task_types"], r["covered_types"]) == (3, 2, 3, 2)
    assert token_overlap(token_counts(pre), task, special_ids=[101, 102]) == r
    assert token_overlap(pre, [[]])["token_share"] is None
    with pytest.raises(DataError, match="min_count=0"):
        token_overlap(pre, task, min_count=0)
    with pytest.raises(DataError, match="no 'input_ids' column"):
        token_counts(Dataset.from_dict({"text": ["raw"]}))


def test_overlap_command_on_a_tiny_data_folder(tmp_path, toy_tokenizer_dir, capsys):
    wiki = tmp_path / "wikipedia" / "AA"
    wiki.mkdir(parents=True)
    docs = "".join(f'<doc id="{i}" url="u" title="T{i}">\nT{i}\n{" ".join(TOY_SENTENCES[:6])}\n</doc>\n'
                   for i in range(6))
    (wiki / "wiki_00").write_text(docs, encoding="utf-8")
    (tmp_path / "ag_news").mkdir()
    for split in ("train", "test"):
        with open(tmp_path / "ag_news" / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f, quoting=csv.QUOTE_ALL).writerows(
                [[str(k + 1), "Stock markets", f"rallied on {s}"] for k, s in enumerate(["Tuesday", "zebra"] * 2)] * 3
            )
    (tmp_path / "ag_news" / "classes.txt").write_text("World\nSports\nBusiness\nSci/Tech\n", encoding="utf-8")
    args = ["--data_dir", str(tmp_path), "--tokenizer_name", str(toy_tokenizer_dir), "--task_name", "ag_news",
            "--max_length", "16", "--pre_train_size", "10", "--min_eval_sequences", "2", "--min_count", "1", "1000"]
    rows = data_main(["overlap", *args, "--json", str(tmp_path / "o.json")])
    out = capsys.readouterr().out
    assert "token_share" in out and "ag_news" in out
    assert [r["min_count"] for r in rows] == [1, 1000]
    assert 0 < rows[0]["token_share"] < 1 and rows[1]["token_share"] == 0  # "zebra" is never seen
    assert json.loads((tmp_path / "o.json").read_text()) == rows
    data_main(["overlap", *args, "--json", "-"])
    assert json.loads(capsys.readouterr().out) == rows


def test_the_data_command_names_bad_input_and_exits_2(tmp_path):
    """`python -m modeling_tlm.data` follows the training scripts' convention: `error: ...`, status 2, no traceback."""
    result = subprocess.run([sys.executable, "-m", "modeling_tlm.data", "sequences", "--source", str(tmp_path / "nope"),
                             "--tokenizer_name", str(tmp_path / "no-tokenizer")], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "no-tokenizer" in result.stderr
    assert "Traceback" not in result.stderr
