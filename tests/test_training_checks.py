"""Bad input to train_mlm.py / train_cls.py stops before training, with a message naming the problem."""

import json
import socket
import sys

import pytest
import torch
import yaml

import train_cls
import train_mlm
from modeling_tlm import TLMConfig, TLMForMaskedLM, TLMForSequenceClassification
from modeling_tlm.data import DataError, load_tokenizer
from modeling_tlm.training import ArgumentError, OutputDirError
from modeling_tlm.training.resume import FINGERPRINT_NAME, write_fingerprint
from modeling_tlm.training.commands import run_cli
from tests.training_utils import cls_args, corpus_file, mlm_args


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_dir):
    return corpus_file(data_dir)


def _save(model_cls, folder, bert_tokenizer_dir, **config):
    fields = dict(hidden_size=64, num_attention_heads=1, intermediate_size=128, **config)
    model_cls(TLMConfig.from_preset("tiny", **fields)).save_pretrained(folder)
    load_tokenizer(bert_tokenizer_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def mlm_checkpoint(tmp_path_factory, bert_tokenizer_dir):
    return _save(TLMForMaskedLM, tmp_path_factory.mktemp("mlm_ckpt"), bert_tokenizer_dir)


@pytest.fixture(scope="module")
def cls_checkpoint(tmp_path_factory, bert_tokenizer_dir):
    return _save(TLMForSequenceClassification, tmp_path_factory.mktemp("cls_ckpt"), bert_tokenizer_dir, num_labels=3)


def assert_nothing_started(output_dir):
    """No fingerprint and no checkpoint: the run stopped before training."""
    assert not (output_dir / FINGERPRINT_NAME).exists()
    assert not list(output_dir.glob("checkpoint-*")) if output_dir.exists() else True


def _fails(main, args, error, match, output_dir):
    with pytest.raises(error, match=match):
        main(args)
    assert_nothing_started(output_dir)


# ---------------------------------------------------------------------------------------------------- arguments


def test_unknown_preset_from_yaml_file(tmp_path, corpus, data_dir):
    args = dict(model_preset="bert-99", train_file=str(corpus), output_dir=str(tmp_path / "out"))
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(args))
    _fails(train_mlm.main, [str(path)], ArgumentError, r"--model_preset 'bert-99' is unknown; choose one of: .*tiny",
           tmp_path / "out")


def test_unknown_preset_on_the_command_line(tmp_path, corpus, capsys):
    with pytest.raises(SystemExit):
        train_mlm.main(["--model_preset", "bert-99", "--train_file", str(corpus), "--output_dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert "argument --model_preset" in err and "invalid choice: 'bert-99'" in err and "'tiny'" in err


def test_unknown_task_from_json_file(tmp_path, data_dir):
    path = tmp_path / "args.json"
    path.write_text(json.dumps(dict(task_name="imdb", from_scratch=True, model_preset="tiny", data_dir=str(data_dir),
                                    output_dir=str(tmp_path / "out"))))
    _fails(train_cls.main, [str(path)], ArgumentError, r"--task_name 'imdb' is unknown; choose one of: ag_news",
           tmp_path / "out")


@pytest.mark.parametrize("extra, match", [
    (["--model_name_or_path", "some/checkpoint"], r"--model_name_or_path contradicts --model_preset"),
    (["--dataset_name", "wikipedia"], r"--dataset_name and --train_file both name the training corpus"),
    (["--mlm_probability", "1.5"], r"--mlm_probability 1.5: expected a number in \(0, 1\)"),
    (["--config_overrides", "hidden_sise=64"], r"'hidden_sise' is not a TLMConfig field"),
    (["--max_seq_length", "512"], r"--max_seq_length 512: the model takes 3 to max_position_embeddings=128"),
])
def test_contradictory_or_invalid_mlm_flags(tmp_path, corpus, data_dir, extra, match):
    _fails(train_mlm.main, _mlm_args_with(corpus, data_dir, tmp_path / "out", extra), ArgumentError, match,
           tmp_path / "out")


def _mlm_args_with(corpus, data_dir, out, extra: list[str]) -> list[str]:
    """The test arguments with the flags of `extra` in place of their defaults."""
    args = mlm_args(corpus, data_dir, out)
    for flag in ("--config_overrides", "--max_seq_length", "--data_dir"):
        if flag in extra:
            i = args.index(flag)
            del args[i:i + 2]
    return args + extra


def test_no_training_data(tmp_path, data_dir):
    _fails(train_mlm.main, ["--model_preset", "tiny", "--output_dir", str(tmp_path / "out")], ArgumentError,
           r"no training data: pass --dataset_name wikipedia", tmp_path / "out")


def test_from_scratch_preset_contradicts_checkpoint(tmp_path, data_dir):
    args = cls_args(data_dir, tmp_path / "out", "--from_scratch", "--model_preset", "tiny", "--model_name_or_path", "x/y")
    _fails(train_cls.main, args, ArgumentError, r"--model_name_or_path contradicts --model_preset \(--from_scratch "
           r"trains random weights\)", tmp_path / "out")


def test_from_scratch_with_checkpoint_only(tmp_path, data_dir, mlm_checkpoint):
    args = cls_args(data_dir, tmp_path / "out", "--from_scratch", "--model_name_or_path", str(mlm_checkpoint))
    _fails(train_cls.main, args, ArgumentError, r"--from_scratch contradicts --model_name_or_path", tmp_path / "out")


def test_preset_without_from_scratch(tmp_path, data_dir):
    _fails(train_cls.main, cls_args(data_dir, tmp_path / "out", "--model_preset", "tiny"), ArgumentError,
           r"--model_preset builds a model with random weights: add --from_scratch", tmp_path / "out")


# ---------------------------------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("override, match", [
    ("hidden_size=32", r"--config_overrides hidden_size with --model_name_or_path .*: a checkpoint's architecture is "
                       r"fixed by its weights; only hidden_dropout_prob, attention_probs_dropout_prob, "
                       r"classifier_dropout may change"),
    ("hidden_dropout_prob=1.5", r"--model_name_or_path .* with --config_overrides: TLMConfig.hidden_dropout_prob "
                                r"must be in \[0, 1\), got 1.5"),
])
def test_checkpoint_config_overrides_other_than_dropout(tmp_path, data_dir, mlm_checkpoint, override, match):
    args = cls_args(data_dir, tmp_path / "out", "--model_name_or_path", str(mlm_checkpoint), "--config_overrides",
                    override)
    _fails(train_cls.main, args, ArgumentError, match, tmp_path / "out")


def test_checkpoint_dropout_override_reaches_the_model(mlm_checkpoint):
    """Pre-trained without dropout, fine-tuned with it: the override changes the config, the weights load as saved."""
    from types import SimpleNamespace

    from modeling_tlm.training.build import build_config

    tokenizer = load_tokenizer(str(mlm_checkpoint))
    args = SimpleNamespace(model_name_or_path=str(mlm_checkpoint), config_name=None, model_preset=None,
                           config_overrides="hidden_dropout_prob=0.25,attention_probs_dropout_prob=0")
    config = build_config(args, tokenizer)
    assert (config.hidden_dropout_prob, config.attention_probs_dropout_prob) == (0.25, 0)
    model = TLMForSequenceClassification.from_pretrained(str(mlm_checkpoint), config=config)
    saved = TLMForMaskedLM.from_pretrained(str(mlm_checkpoint))
    assert model.config.hidden_dropout_prob == 0.25
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.25 for m in model.modules())
    for name, tensor in saved.tlm.state_dict().items():
        torch.testing.assert_close(model.tlm.state_dict()[name], tensor, rtol=0, atol=0)


def test_checkpoint_folder_without_config(tmp_path, data_dir):
    folder = tmp_path / "ckpt"
    (folder / "checkpoint-40").mkdir(parents=True)
    (folder / "checkpoint-40" / "config.json").write_text("{}")
    args = cls_args(data_dir, tmp_path / "out", "--model_name_or_path", str(folder))
    _fails(train_cls.main, args, ArgumentError,
           r"ckpt: the folder has no config.json, so it is not a model checkpoint; it holds Trainer checkpoints, "
           r"e.g. pass .*checkpoint-40", tmp_path / "out")


def test_missing_checkpoint_folder(tmp_path, corpus, data_dir):
    args = ["--model_name_or_path", str(tmp_path / "nowhere"), "--train_file", str(corpus),
            "--output_dir", str(tmp_path / "out")]
    _fails(train_mlm.main, args, ArgumentError, r"nowhere: no such folder", tmp_path / "out")


def test_classification_checkpoint_given_to_mlm(tmp_path, corpus, cls_checkpoint):
    args = ["--model_name_or_path", str(cls_checkpoint), "--train_file", str(corpus),
            "--output_dir", str(tmp_path / "out")]
    _fails(train_mlm.main, args, ArgumentError,
           r"is a classification checkpoint \(TLMForSequenceClassification\): it has no MLM head", tmp_path / "out")


def test_tokenizer_that_does_not_match_the_checkpoint(tmp_path, corpus, mlm_checkpoint, bert_tokenizer_dir):
    tokenizer = load_tokenizer(bert_tokenizer_dir)
    tokenizer.add_tokens(["[NEW1]", "[NEW2]"])
    tokenizer.save_pretrained(tmp_path / "tok")
    args = ["--model_name_or_path", str(mlm_checkpoint), "--tokenizer_name", str(tmp_path / "tok"),
            "--train_file", str(corpus), "--output_dir", str(tmp_path / "out")]
    _fails(train_mlm.main, args, DataError, r"vocab_size: the tokenizer has 30524 tokens, 2 more than "
           r"config.vocab_size=30522", tmp_path / "out")


def test_classifier_checkpoint_with_other_labels(tmp_path, data_dir, cls_checkpoint):
    args = cls_args(data_dir, tmp_path / "out", "--model_name_or_path", str(cls_checkpoint))
    _fails(train_cls.main, args, ArgumentError, r"is a classifier with 3 labels but task ag_news has 4",
           tmp_path / "out")


# ---------------------------------------------------------------------------------------------------- data


def test_empty_corpus(tmp_path, data_dir):
    (tmp_path / "empty.jsonl").write_text('{"text": ""}\n{"text": "  "}\n')
    args = mlm_args(tmp_path / "empty.jsonl", data_dir, tmp_path / "out")
    _fails(train_mlm.main, args, DataError, r"empty.jsonl: the corpus holds no documents",
           tmp_path / "out")


def test_corpus_too_small(tmp_path, data_dir):
    (tmp_path / "small.txt").write_text("One short document.\n\nAnd another one.\n")
    args = mlm_args(tmp_path / "small.txt", data_dir, tmp_path / "out")
    _fails(train_mlm.main, args, DataError, r"the corpus yields 0 packed sequences of 64 tokens", tmp_path / "out")


def test_training_set_smaller_than_one_batch(tmp_path, corpus, data_dir):
    args = mlm_args(corpus, data_dir, tmp_path / "out", "--pre_train_size", "5")
    _fails(train_mlm.main, args, DataError, r"the train set has 5 rows, fewer than 8 \(one batch of 8 sequences\)",
           tmp_path / "out")


def test_classification_data_too_small(tmp_path, data_dir):
    (tmp_path / "train.csv").write_text("text,label\ngood film,pos\nbad film,neg\n")
    args = ["--from_scratch", "--model_preset", "tiny", "--train_file", str(tmp_path / "train.csv"),
            "--test_file", str(tmp_path / "train.csv"), "--data_dir", str(data_dir), "--output_dir", str(tmp_path / "out")]
    _fails(train_cls.main, args, DataError, r"class '\w+' has 1 rows in the train split", tmp_path / "out")


# ---------------------------------------------------------------------------------------------------- output folder


def test_output_dir_of_another_run(tmp_path, corpus, data_dir):
    out = tmp_path / "out"
    args = mlm_args(corpus, data_dir, out)
    fingerprint = json.loads(json.dumps(dict(script="train_mlm", arguments={"learning_rate": 0.5})))
    write_fingerprint(out, fingerprint)
    (out / "checkpoint-3").mkdir()
    (out / "checkpoint-3" / "trainer_state.json").write_text("{}")
    with pytest.raises(OutputDirError, match=r"holds checkpoints of a different run; .* differs from this command "
                                             r"in: .*--learning_rate \(0.5 -> 0.001\)"):
        train_mlm.main(args)
    assert json.loads((out / FINGERPRINT_NAME).read_text()) == fingerprint  # not overwritten


def test_output_dir_with_foreign_checkpoints(tmp_path, corpus, data_dir):
    out = tmp_path / "out"
    (out / "checkpoint-7").mkdir(parents=True)
    with pytest.raises(OutputDirError, match=r"already holds checkpoints or a model, but no tlm_run.json"):
        train_mlm.main(mlm_args(corpus, data_dir, out))
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-7"]  # untouched


# ---------------------------------------------------------------------------------------------------- Hub


def _hub_args(corpus, data_dir, out):
    return mlm_args(corpus, data_dir, out, "--push_to_hub", "--hub_model_id", "test-user/tiny")


def _online(monkeypatch, endpoint):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)


def test_push_without_token(tmp_path, corpus, data_dir, monkeypatch):
    import huggingface_hub.constants as constants

    _online(monkeypatch, "http://127.0.0.1:9")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    _fails(train_mlm.main, _hub_args(corpus, data_dir, tmp_path / "out"), ArgumentError,
           r"--push_to_hub needs a write token: pass --hub_token, set HF_TOKEN", tmp_path / "out")


def test_push_to_unreachable_endpoint(tmp_path, corpus, data_dir, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _online(monkeypatch, f"http://127.0.0.1:{port}")
    args = _hub_args(corpus, data_dir, tmp_path / "out") + ["--hub_token", "hf_secret_value_123"]
    with pytest.raises(ArgumentError, match=rf"cannot use the Hub at http://127.0.0.1:{port} \(HF_ENDPOINT\)") as e:
        train_mlm.main(args)
    assert "hf_secret_value_123" not in str(e.value)
    assert_nothing_started(tmp_path / "out")


def test_push_with_rejected_token(tmp_path, corpus, data_dir, local_hub, monkeypatch):
    local_hub.activate(monkeypatch)
    args = _hub_args(corpus, data_dir, tmp_path / "out") + ["--hub_token", "hf_wrong_token"]
    _fails(train_mlm.main, args, ArgumentError, r"it rejected the token \(401 Unauthorized\)", tmp_path / "out")


def test_push_while_offline(tmp_path, corpus, data_dir, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _fails(train_mlm.main, _hub_args(corpus, data_dir, tmp_path / "out"), ArgumentError,
           r"--push_to_hub needs the Hub .* but HF_HUB_OFFLINE is set", tmp_path / "out")


# ---------------------------------------------------------------------------------------------------- command line


def test_command_line_error_is_a_message_not_a_traceback(tmp_path, data_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["train_cls.py", *cls_args(data_dir, tmp_path / "out", "--model_preset", "tiny")])
    with pytest.raises(SystemExit) as exit_info:
        run_cli(train_cls.main)  # what `python train_cls.py ...` runs
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --model_preset builds a model with random weights") and "Traceback" not in err


def test_damaged_or_mismatched_weights_are_named_before_any_data(tmp_path, data_dir, bert_tokenizer_dir):
    folder = _save(TLMForMaskedLM, tmp_path / "ckpt", bert_tokenizer_dir)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_conv_layers": 1}))  # weights have no conv layer
    args = cls_args(data_dir, tmp_path / "out", "--model_name_or_path", str(folder))
    _fails(train_cls.main, args, ArgumentError, r"model.safetensors: the weights do not match .*config.json "
           r"\(.*num_conv_layers=1.*\): missing conv.layers.0.bias", tmp_path / "out")

    (folder / "config.json").write_text(json.dumps(config))
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(weights[: len(weights) // 2])  # a save cut short
    _fails(train_cls.main, args, ArgumentError, rf"{folder / 'model.safetensors'}: not a complete safetensors file",
           tmp_path / "out")


def test_same_size_tokenizer_with_other_tokens(tmp_path, data_dir, bert_tokenizer_dir):
    """bert-base-uncased's vocabulary with the entries past 1,000 shuffled: same size, same special ids, other words.
    The checkpoint's vocab_fingerprint (written by every save of the training scripts) catches it."""
    import random

    from modeling_tlm.data.tokenization import vocab_fingerprint

    folder = _save(TLMForMaskedLM, tmp_path / "ckpt", bert_tokenizer_dir)
    config = json.loads((folder / "config.json").read_text())
    config["vocab_fingerprint"] = vocab_fingerprint(load_tokenizer(folder))
    (folder / "config.json").write_text(json.dumps(config))
    lines = (bert_tokenizer_dir / "vocab.txt").read_text().splitlines()
    tail = lines[1000:]
    random.Random(0).shuffle(tail)
    shuffled = tmp_path / "shuffled"
    load_tokenizer(bert_tokenizer_dir).save_pretrained(shuffled)
    (shuffled / "vocab.txt").write_text("\n".join(lines[:1000] + tail) + "\n")
    (shuffled / "tokenizer.json").unlink(missing_ok=True)  # rebuilt from the shuffled vocab.txt
    assert len(load_tokenizer(shuffled)) == len(lines)
    args = cls_args(data_dir, tmp_path / "out", "--model_name_or_path", str(folder), "--tokenizer_name", str(shuffled))
    _fails(train_cls.main, args, DataError, r"vocab_fingerprint: the tokenizer has the model's 30522 tokens but not "
           r"the same ones", tmp_path / "out")


# ---------------------------------------------------------------------------------------------------- messages


@pytest.mark.parametrize("extra, match", [
    (["--config_overrides", "conv_kernel_size=[16,3"], r"--config_overrides 'conv_kernel_size=\[16,3': unbalanced "
                                                       r"brackets"),
    (["--config_overrides", "conv_kernel_size=[16,3]]]"], r"--config_overrides .*: unbalanced brackets"),
    (["--config_overrides", "conv_kernel_size={16: 3"], r"--config_overrides: the value of conv_kernel_size \('\{16: 3'\) "
                                                        r"is not valid"),
    (["--overwrite_output_dir"], r"--overwrite_output_dir is gone in transformers 5: a rerun resumes"),
    (["--data_dir", "/no/such/data"], r"--data_dir /no/such/data: no such folder"),
    (["--max_stpes", "3"], r"not used by the HfArgumentParser: \['--max_stpes', '3'\]"),
])
def test_bad_flags_are_named(tmp_path, corpus, data_dir, extra, match):
    _fails(train_mlm.main, _mlm_args_with(corpus, data_dir, tmp_path / "out", extra), ArgumentError, match,
           tmp_path / "out")
    assert not (tmp_path / "out").exists()  # the checks that fail on flags come before the folder is made


def test_misspelled_local_dataset_name(tmp_path, data_dir):
    args = ["--model_preset", "tiny", "--dataset_name", "wikipediaa", "--data_dir", str(data_dir),
            "--output_dir", str(tmp_path / "out")]
    _fails(train_mlm.main, args, ArgumentError, r"--dataset_name 'wikipediaa': with --data_dir the local corpora are "
           r"'wikipedia' and the training texts of ag_news, dbpedia_14", tmp_path / "out")


def test_relative_checkpoint_path_that_does_not_exist(tmp_path, data_dir, monkeypatch):
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)  # runs/ exists here, runs/tiny-mlm does not: a path, not a Hub id
    _fails(train_cls.main, cls_args(data_dir, tmp_path / "out", "--model_name_or_path", "runs/tiny-mlm"),
           ArgumentError, r"--model_name_or_path runs/tiny-mlm: no such folder", tmp_path / "out")


def test_checkpoint_config_that_is_not_json(tmp_path, data_dir, bert_tokenizer_dir):
    folder = _save(TLMForMaskedLM, tmp_path / "ckpt", bert_tokenizer_dir)
    (folder / "config.json").write_text('{"model_type": "tlm", ')
    _fails(train_cls.main, cls_args(data_dir, tmp_path / "out", "--model_name_or_path", str(folder)),
           ArgumentError, rf"{folder / 'config.json'}: not valid JSON", tmp_path / "out")


@pytest.mark.parametrize("rows, match", [
    ("text,label\n", r"train.csv: no rows \(a header at most\)"),
    ("", r"train.csv: the file is empty"),
    ("text,label\ngood film,1\n,0\nbad film,0\n", r"train.csv: row 2 \(after the header\), field 'text' is None; "
                                                 r"expected a non-empty text"),
    ("text,label\ngood film,1\nfine film,one\nbad film,0\n", r"train.csv: row 2, field 'label' is 'one'; the other "
                                                             r"labels are integers"),
    ("review,label\ngood film,1\n", r"train.csv: no column 'text'; its columns are \['review', 'label'\] \(pass "
                                    r"--text_column_name\)"),
])
def test_bad_csv_rows_are_named(tmp_path, data_dir, rows, match):
    (tmp_path / "train.csv").write_text(rows)
    args = ["--from_scratch", "--model_preset", "tiny", "--train_file", str(tmp_path / "train.csv"),
            "--test_file", str(tmp_path / "train.csv"), "--data_dir", str(data_dir), "--output_dir", str(tmp_path / "out")]
    _fails(train_cls.main, args, DataError, match, tmp_path / "out")


def test_yaml_value_of_the_wrong_type(tmp_path, corpus, data_dir):
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(dict(model_preset="tiny", train_file=str(corpus), data_dir=str(data_dir),
                                        output_dir=str(tmp_path / "out"), max_steps="abc")))
    _fails(train_mlm.main, [str(path)], ArgumentError, rf"{path}: max_steps: 'abc' is not an int", tmp_path / "out")


def test_shared_flag_checks_name_the_flag_and_the_value():
    """The counting, choice and length checks every command shares (benchmarks, the experiment runner)."""
    from types import SimpleNamespace

    from modeling_tlm.training.checks import check_at_least, check_choices, check_preset_positions

    args = SimpleNamespace(iters=3, warmup=0, batch_sizes=[1, 32])
    check_at_least(args, ("iters", "batch_sizes"))
    check_at_least(args, ("warmup",), minimum=0)
    with pytest.raises(ArgumentError, match=r"--warmup must be at least 1, got 0"):
        check_at_least(args, ("iters", "warmup"))
    with pytest.raises(ArgumentError, match=r"--batch_sizes must be at least 1, got \[1, 0\]"):
        check_at_least(SimpleNamespace(batch_sizes=[1, 0]), ("batch_sizes",))
    check_choices("--dtypes", "dtype", ["fp32"], {"fp32": 0, "bf16": 1})
    with pytest.raises(ArgumentError, match="--dtypes: unknown dtype 'fp16'; choose from fp32, bf16"):
        check_choices("--dtypes", "dtype", ["fp32", "fp16"], {"fp32": 0, "bf16": 1})
    limit = TLMConfig().max_position_embeddings
    check_preset_positions("--seq_len", limit)
    with pytest.raises(ArgumentError, match=f"--seq_len {limit + 1} exceeds the presets' {limit} positions"):
        check_preset_positions("--seq_len", limit + 1)
