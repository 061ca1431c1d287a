"""train_committee.py: its argument checks, and one end-to-end run on AG News from tiny pre-trained checkpoints."""

import json
from pathlib import Path

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import train_committee
from modeling_tlm import TLMCommitteeForSequenceClassification, TLMConfig, TLMForMaskedLM
from modeling_tlm.training import ArgumentError


@pytest.mark.parametrize("flags, message", [
    (["--member_presets", "bert-1", "bert-7", "--pretrain_seeds", "1", "2"], "--member_presets 'bert-7' is unknown"),
    (["--member_presets", "bert-1", "bert-1", "--pretrain_seeds", "1"], "gives 1 seeds for 2"),
    (["--member_presets", "bert-1", "bert-1", "--pretrain_seeds", "4", "4"], "same preset and seed"),
    (["--cls_args=--seed=3"], "--cls_args must not set --seed"),
    (["--mlm_args", "--max_steps 5 --output_dir x"], "--mlm_args must not set --output_dir"),
    (["--pretrained", "/nonexistent/mlm"], "--pretrained /nonexistent/mlm: no such folder"),
])
def test_bad_arguments_fail_before_any_work(tmp_path, flags, message):
    with pytest.raises(ArgumentError, match=message):
        train_committee.main(["--output_dir", str(tmp_path), *flags])
    assert not any(tmp_path.iterdir())  # nothing was run


@pytest.mark.slow
def test_end_to_end_from_pretrained_checkpoints(tmp_path, data_dir, bert_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(bert_tokenizer_dir)
    pretrained = []
    for seed in (1, 2):  # two tiny "pre-trained" encoders (random weights: the test is about the plumbing)
        folder = tmp_path / f"mlm-{seed}"
        TLMForMaskedLM(TLMConfig.from_preset("bert-1", hidden_size=32, num_attention_heads=1)).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        pretrained.append(str(folder))
    out = tmp_path / "committee-run"
    results = train_committee.main([
        "--output_dir", str(out), "--task_name", "ag_news", "--data_dir", str(data_dir), "--pretrained", *pretrained,
        "--cls_args", "--samples_per_label_train 8 --samples_per_label_test 5 --num_train_epochs 1 --eval_strategy no "
                      "--save_strategy no --load_best_model_at_end false --report_to none",
    ])
    saved = json.loads((out / "results.json").read_text())
    assert saved["test_examples"] == 20 and len(saved["members"]) == 2
    for member in saved["members"]:  # the members' own test accuracy, recomputed on the same examples
        own = json.loads((Path(member["checkpoint"]) / "results.json").read_text())["test_accuracy"]
        assert member["test_accuracy"] == pytest.approx(own, abs=1 / 20)
    assert saved["committee_test_accuracy"] == saved["test_accuracy_by_combine_mode"]["soft"]
    assert saved["committee_minus_best_member"] == pytest.approx(
        saved["committee_test_accuracy"] - max(m["test_accuracy"] for m in saved["members"]))
    committee = AutoModelForSequenceClassification.from_pretrained(out / "committee")
    assert isinstance(committee, TLMCommitteeForSequenceClassification) and committee.config.num_members == 2
    assert committee.config.num_labels == 4 and results["task"] == "ag_news"
