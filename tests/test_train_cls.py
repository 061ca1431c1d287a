"""train_cls.py: metrics through the shipped `evaluate` modules, the model it builds, and real fine-tuning runs:
pre-train -> fine-tune -> results.json, the from-scratch baseline on the same data, and FewRel's entity markers."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score
from transformers import AutoModelForSequenceClassification, AutoTokenizer, EvalPrediction, HfArgumentParser

import train_cls
import train_mlm
from modeling_tlm import TLMConfig, TLMForMaskedLM
from modeling_tlm.data import load_task, load_tokenizer, tokenize_task
from modeling_tlm.training import (
    ClassificationDataArguments,
    ClassificationMetrics,
    ClassificationModelArguments,
    TLMTrainingArguments,
    load_metric,
)
from modeling_tlm.training.metrics import METRICS_DIR
from tests.training_utils import TINY, cls_args, corpus_file, mlm_args, one_thread, read_json  # noqa: F401


def test_help_documents_every_argument():
    parser = HfArgumentParser((ClassificationModelArguments, ClassificationDataArguments, TLMTrainingArguments))
    undocumented = [a.option_strings[0] for a in parser._actions if a.option_strings and not (a.help or "").strip()]
    assert undocumented == []
    options = {s for a in parser._actions for s in a.option_strings}
    for name in ("model_name_or_path", "tokenizer_name", "train_file", "validation_file", "test_file", "max_seq_length",
                 "task_name", "samples_per_label_train", "samples_per_label_test", "from_scratch", "model_preset",
                 "data_dir", "output_dir", "load_best_model_at_end", "push_to_hub", "hub_model_id"):
        assert f"--{name}" in options


def test_metric_modules_ship_with_the_package_and_load_offline():
    assert (METRICS_DIR / "accuracy" / "accuracy.py").is_file() and (METRICS_DIR / "f1" / "f1.py").is_file()
    rng = np.random.default_rng(0)
    references, predictions = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    accuracy = load_metric("accuracy").compute(predictions=predictions, references=references)["accuracy"]
    f1 = load_metric("f1").compute(predictions=predictions, references=references, average="macro")["f1"]
    assert accuracy == pytest.approx(accuracy_score(references, predictions))
    assert f1 == pytest.approx(f1_score(references, predictions, average="macro"))


@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted", None])
@pytest.mark.parametrize("weighted", [False, True])
def test_metric_modules_compute_what_scikit_learn_does(average, weighted):
    """The shipped modules are numpy (the package needs no scikit-learn); scikit-learn, a test dependency, is the
    reference, with every option the modules take, a class never predicted and a label absent from both sides."""
    rng = np.random.default_rng(3)
    n_classes = 2 if average == "binary" else 5
    references, predictions = rng.integers(0, n_classes, 60), rng.integers(0, n_classes, 60)
    predictions[predictions == 1] = 0  # class 1 is never predicted: its F1 is 0 (zero_division=0)
    weights = rng.uniform(0.1, 2.0, 60) if weighted else None
    labels = None if average == "binary" else [0, 1, 2, 3, 4, 7]  # 7 occurs nowhere
    ours = load_metric("f1").compute(predictions=predictions, references=references, average=average,
                                     sample_weight=weights, **({"labels": labels} if labels else {}))["f1"]
    theirs = f1_score(references, predictions, average=average, sample_weight=weights, labels=labels,
                      zero_division=0)
    assert ours == pytest.approx(theirs.tolist() if average is None else theirs)
    for normalize in (True, False):
        accuracy = load_metric("accuracy").compute(predictions=predictions, references=references,
                                                   normalize=normalize, sample_weight=weights)["accuracy"]
        assert accuracy == pytest.approx(accuracy_score(references, predictions, normalize=normalize,
                                                        sample_weight=weights))


def test_binary_f1_of_more_classes_is_an_error_naming_the_fix():
    with pytest.raises(ValueError, match="average='macro'"):
        load_metric("f1").compute(predictions=[0, 1, 2], references=[0, 1, 2])


def test_classification_metrics_from_logits():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    metrics = ClassificationMetrics()(EvalPrediction(predictions=logits, label_ids=labels))
    predictions = logits.argmax(-1)
    assert metrics == pytest.approx({"accuracy": accuracy_score(labels, predictions),
                                     "macro_f1": f1_score(labels, predictions, average="macro")})


def test_pretrained_encoder_kept_head_replaced(tmp_path, bert_tokenizer_dir):
    config = TLMConfig.from_preset("tiny", hidden_size=64, num_attention_heads=1, intermediate_size=128)
    torch.manual_seed(0)
    TLMForMaskedLM(config).save_pretrained(tmp_path / "mlm")
    mlm = TLMForMaskedLM.from_pretrained(tmp_path / "mlm")
    task = SimpleNamespace(num_labels=4, id2label=dict(enumerate("abcd")), label2id={c: i for i, c in enumerate("abcd")},
                           marker_tokens=())
    tokenizer = load_tokenizer(bert_tokenizer_dir)

    pretrained = train_cls.build_model(ClassificationModelArguments(model_name_or_path=str(tmp_path / "mlm")),
                                       TLMConfig.from_pretrained(tmp_path / "mlm"), task, tokenizer)
    for name, tensor in mlm.tlm.state_dict().items():
        assert torch.equal(pretrained.tlm.state_dict()[name], tensor), name
    assert not hasattr(pretrained, "lm_head") and pretrained.classifier.out_features == 4
    assert pretrained.config.id2label[3] == "d"

    scratch = train_cls.build_model(ClassificationModelArguments(from_scratch=True, model_preset="tiny"),
                                    TLMConfig.from_preset("tiny", hidden_size=64, num_attention_heads=1,
                                                          intermediate_size=128), task, tokenizer)
    weights = "embeddings.word_embeddings.weight"
    assert not torch.equal(scratch.tlm.state_dict()[weights], mlm.tlm.state_dict()[weights])


# ---------------------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, data_dir):
    """A tiny model pre-trained for a few dozen steps on a Wikipedia slice."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("pretrained")
    train_mlm.main(mlm_args(corpus_file(data_dir), data_dir, out, "--max_steps", "24", "--save_steps", "24"))
    torch.set_num_threads(threads)
    return out


def _test_accuracy(output_dir: Path, data_dir: Path) -> float:
    """Accuracy of the saved model on the same test sample, computed here independently of the Trainer."""
    model = AutoModelForSequenceClassification.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    task = load_task("ag_news", data_dir=data_dir, samples_per_label_train=16, samples_per_label_test=16)
    test = tokenize_task(task, tokenizer, max_length=64)["test"]
    correct = 0
    with torch.no_grad():
        for row in test:
            logits = model(input_ids=torch.tensor([row["input_ids"]])).logits  # (1, num_labels)
            correct += int(logits.argmax(-1).item() == row["labels"])
    return correct / len(test)


@pytest.mark.slow
def test_finetune_pretrained_and_from_scratch_baseline(tmp_path, data_dir, pretrained, one_thread):
    schedule = ["--num_train_epochs", "2", "--seed", "7"]
    runs = {
        "pretrained": train_cls.main(cls_args(data_dir, tmp_path / "ft", "--model_name_or_path", str(pretrained),
                                              *schedule)),
        "scratch": train_cls.main(cls_args(data_dir, tmp_path / "scratch", "--from_scratch", "--model_preset", "tiny",
                                           "--config_overrides", TINY, *schedule)),
    }
    for name, out in (("pretrained", tmp_path / "ft"), ("scratch", tmp_path / "scratch")):
        results = read_json(out / "results.json")
        assert results == json.loads(json.dumps(runs[name], default=str))
        # 16 per label for training, ceil(10%) more per label held out for validation, 16 per label for test.
        assert results["data_sizes"] == {"train": 64, "validation": 8, "test": 64}
        assert results["seed"] == 7 and results["arguments"]["samples_per_label_train"] == 16
        assert 0.0 <= results["test_accuracy"] <= 1.0 and 0.0 <= results["test_macro_f1"] <= 1.0
        assert results["runtime_seconds"] > 0 and results["train"]["train_runtime"] > 0
        # Model selection: the model kept is the best on validation.
        state = read_json(Path(results["best_checkpoint"]) / "trainer_state.json")
        assert results["validation"]["eval_accuracy"] == pytest.approx(state["best_metric"])
        assert state["best_metric"] == max(e["eval_accuracy"] for e in state["log_history"] if "eval_accuracy" in e)
        # results.json reports what the saved model really scores on the test sample.
        assert _test_accuracy(out, data_dir) == pytest.approx(results["test_accuracy"])
        card = (out / "README.md").read_text()
        assert "pipeline_tag: text-classification" in card and "test_accuracy" in card and "## How to load" in card
    assert "from the pre-trained checkpoint" in (tmp_path / "ft" / "README.md").read_text()
    assert "from random weights" in (tmp_path / "scratch" / "README.md").read_text()
    # The baseline differs only in its weights: same data, seed and schedule.
    same = {k: v for k, v in runs["pretrained"]["arguments"].items()
            if k not in ("model_name_or_path", "from_scratch", "model_preset", "config_overrides", "output_dir",
                         "logging_dir", "run_name", "hub_model_id")}
    assert same == {k: runs["scratch"]["arguments"][k] for k in same}
    assert runs["pretrained"]["data_sizes"] == runs["scratch"]["data_sizes"]


@pytest.mark.slow
def test_fewrel_entity_markers_resize_embeddings(tmp_path, data_dir, one_thread):
    out = tmp_path / "fewrel"
    args = ["--task_name", "fewrel", "--data_dir", str(data_dir), "--output_dir", str(out), "--from_scratch",
            "--model_preset", "tiny", "--config_overrides", TINY, "--samples_per_label_train", "3",
            "--samples_per_label_test", "2", "--max_steps", "3", "--max_seq_length", "64", "--disable_tqdm", "true"]
    results = train_cls.main(args)
    assert results["num_labels"] == 16
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert len(tokenizer) == 30522 + 4 == model.config.vocab_size == model.get_input_embeddings().num_embeddings
    assert tokenizer.tokenize("[E1] paris [/E1]") == ["[E1]", "paris", "[/E1]"]



def _training_batches_padding(tmp_path, data_dir, sampling: str) -> int:
    """Padding tokens over one epoch of train_cls.py's training batches; checks each batch's width on the way."""
    argv = cls_args(data_dir, tmp_path / sampling, "--from_scratch", "--model_preset", "tiny", "--config_overrides",
                    TINY, "--max_seq_length", "128", "--train_sampling_strategy", sampling, samples=32)
    run = train_cls.prepare(argv)
    trainer = train_cls.build_trainer(run)
    dataset = run.dataset
    widths, padding = [], 0
    for batch in trainer.get_train_dataloader():
        assert batch["input_ids"].shape[1] == batch["attention_mask"].sum(1).max()  # no column of padding only
        widths.append(batch["input_ids"].shape[1])
        padding += int((batch["attention_mask"] == 0).sum())
    assert len(widths) == 16 and min(widths) < 128  # 128 examples in batches of 8, narrower than --max_seq_length
    assert sum(len(ids) for ids in dataset["train"]["input_ids"]) + padding == 8 * sum(widths)  # every example once
    return padding


def test_batches_are_padded_to_their_longest_sequence_and_grouped_by_length_pad_less(tmp_path, data_dir):
    """Each training batch is as wide as its longest example, not --max_seq_length; grouping by length puts examples
    of similar lengths together (`--train_sampling_strategy group_by_length`), which leaves less padding."""
    shuffled = _training_batches_padding(tmp_path, data_dir, "random")
    grouped = _training_batches_padding(tmp_path, data_dir, "group_by_length")
    assert grouped < shuffled / 2, (grouped, shuffled)
