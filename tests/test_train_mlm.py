"""train_mlm.py: arguments, MLM metrics, and a real pre-training run on a Wikipedia slice."""

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
import yaml
from transformers import AutoModelForMaskedLM, EvalPrediction, HfArgumentParser

import train_mlm
from modeling_tlm import TLMForMaskedLM
from modeling_tlm.data import load_tokenizer
from modeling_tlm.training import (
    MLM_DEFAULTS,
    MLMDataArguments,
    ModelArguments,
    TLMTrainingArguments,
    compute_mlm_metrics,
    mlm_logits_to_predictions,
    parse_args,
)
from modeling_tlm.training.build import parse_config_overrides
from modeling_tlm.training.card import masked_command
from tests.training_utils import corpus_file, mlm_args, one_thread, read_json, run_script, script_env  # noqa: F401 (fixture)

MLM_TYPES = (ModelArguments, MLMDataArguments, TLMTrainingArguments)


# ---------------------------------------------------------------------------------------------------- arguments


def test_same_arguments_from_command_line_json_and_yaml(tmp_path):
    cli = ["--model_preset", "tiny", "--dataset_name", "wikipedia", "--data_dir", "data", "--output_dir",
           str(tmp_path), "--mlm_probability", "0.2", "--learning_rate", "1e-3", "--max_steps", "7", "--bf16"]
    values = dict(model_preset="tiny", dataset_name="wikipedia", data_dir="data", output_dir=str(tmp_path),
                  mlm_probability=0.2, learning_rate=1e-3, max_steps=7, bf16=True)
    (tmp_path / "args.json").write_text(json.dumps(values))
    (tmp_path / "args.yaml").write_text(yaml.safe_dump(values))
    parsed = [parse_args(MLM_TYPES, MLM_DEFAULTS, argv) for argv in
              (cli, [str(tmp_path / "args.json")], [str(tmp_path / "args.yaml")])]
    as_dicts = [[dataclasses.asdict(obj) for obj in args] for args in parsed]
    assert as_dicts[0] == as_dicts[1] == as_dicts[2]
    model_args, data_args, training_args = parsed[0]
    assert (model_args.model_preset, data_args.mlm_probability, training_args.max_steps) == ("tiny", 0.2, 7)
    assert training_args.weight_decay == MLM_DEFAULTS["weight_decay"]  # our defaults apply to files too
    assert parsed[1][2].weight_decay == MLM_DEFAULTS["weight_decay"]


def test_help_documents_every_argument():
    parser = HfArgumentParser(MLM_TYPES)
    undocumented = [a.option_strings[0] for a in parser._actions if a.option_strings and not (a.help or "").strip()]
    assert undocumented == []
    options = {s for a in parser._actions for s in a.option_strings}
    for name in ("model_name_or_path", "config_name", "tokenizer_name", "dataset_name", "dataset_config_name",
                 "train_file", "validation_file", "max_seq_length", "mlm_probability", "output_dir", "model_preset",
                 "data_dir", "pre_train_size", "sequence_mode", "config_overrides", "max_train_minutes"):
        assert f"--{name}" in options


def test_config_overrides():
    assert parse_config_overrides("hidden_size=256, num_conv_layers=2,conv_kernel_size=[16,3],classifier_dropout=0.2") \
        == {"hidden_size": 256, "num_conv_layers": 2, "conv_kernel_size": [16, 3], "classifier_dropout": 0.2}


def test_tokens_are_hidden_in_the_recorded_command():
    command = masked_command(["train_mlm.py", "--hub_token", "hf_abc", "--hub_token=hf_def", "--max_steps", "3"])
    assert "hf_abc" not in command and "hf_def" not in command and "--max_steps 3" in command


# ---------------------------------------------------------------------------------------------------- metrics


def _masked_batch(batch=3, seq=10, vocab=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(vocab, (batch, seq), generator=g)
    labels[torch.rand(batch, seq, generator=g) > 0.3] = -100
    dense = torch.randn(batch, seq, vocab, generator=g)
    return dense, labels


def test_sparse_logits_become_aligned_predictions():
    dense, labels = _masked_batch()
    masked = labels != -100
    sparse = dense[masked]  # what TLMForMaskedLM returns with labels: (N, V), row-major order
    predictions, nll = mlm_logits_to_predictions(sparse, labels)
    assert predictions.shape == nll.shape == labels.shape
    assert torch.equal(predictions[masked], dense.argmax(-1)[masked])
    assert torch.all(predictions[~masked] == -100)
    assert torch.allclose(nll[masked], F.cross_entropy(dense[masked], labels[masked], reduction="none"))
    dense_predictions, _ = mlm_logits_to_predictions(dense, labels)  # dense (B, T, V) logits give the same
    assert torch.equal(dense_predictions, predictions)


def test_masked_token_accuracy_and_perplexity():
    batches = [_masked_batch(seed=s) for s in range(3)]
    outputs = [mlm_logits_to_predictions(d[l != -100], l) for d, l in batches]
    labels = torch.cat([l for _, l in batches])
    metrics = compute_mlm_metrics(EvalPrediction(
        predictions=(torch.cat([p for p, _ in outputs]).numpy(), torch.cat([n for _, n in outputs]).numpy()),
        label_ids=labels.numpy(),
    ))
    dense = torch.cat([d for d, _ in batches])
    masked = labels != -100
    expected_accuracy = (dense.argmax(-1)[masked] == labels[masked]).float().mean().item()
    expected_perplexity = math.exp(F.cross_entropy(dense[masked], labels[masked]).item())
    assert metrics["accuracy"] == pytest.approx(expected_accuracy)
    assert metrics["perplexity"] == pytest.approx(expected_perplexity, rel=1e-5)


# ---------------------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_pretrain_then_continue(tmp_path, data_dir, one_thread):
    corpus = corpus_file(data_dir)
    out = tmp_path / "mlm"
    results = train_mlm.main(mlm_args(corpus, data_dir, out, "--max_steps", "24", "--save_steps", "12"))

    # The model learned something: the held-out loss is well below the first logged training loss (~ln 30522).
    first_loss = next(e["loss"] for e in read_json(out / "checkpoint-24" / "trainer_state.json")["log_history"])
    eval_metrics = read_json(out / "results.json")["eval"]
    assert eval_metrics["eval_loss"] < first_loss - 0.2
    assert 0.0 < eval_metrics["eval_accuracy"] < 1.0
    assert eval_metrics["eval_perplexity"] == pytest.approx(math.exp(eval_metrics["eval_loss"]), rel=0.1)
    assert results["data"]["training sequences"] == 200 and results["train"]["global_step"] == 24

    # Model, tokenizer, code and card are saved; the folder loads with the Auto classes.
    model = AutoModelForMaskedLM.from_pretrained(out)
    assert isinstance(model, TLMForMaskedLM) and model.config.hidden_size == 64
    assert {"configuration_tlm.py", "modeling_tlm.py", "tokenizer.json", "config.json"} <= {p.name for p in out.iterdir()}
    card = (out / "README.md").read_text()
    for text in ("pipeline_tag: fill-mask", "## Architecture", f"| parameters | {model.num_parameters():,} |",
                 "| training sequences | 200 |", "## Evaluation", "eval_perplexity", "trust_remote_code=True",
                 "python train_mlm.py --model_preset tiny", '"mlm_probability": 0.15'):
        assert text in card

    # Continue pre-training from the checkpoint, in bf16 (CPU autocast through --bf16).
    again = train_mlm.main(["--model_name_or_path", str(out), "--train_file", str(corpus), "--data_dir",
                            str(data_dir), "--output_dir", str(tmp_path / "more"), "--pre_train_size", "200",
                            "--max_seq_length", "64", "--per_device_train_batch_size", "8", "--max_steps", "4",
                            "--max_eval_samples", "64",
                            "--bf16", "--disable_tqdm", "true"])
    assert again["train"]["global_step"] == 4 and again["arguments"]["bf16"] is True
    continued = TLMForMaskedLM.from_pretrained(tmp_path / "more")
    drop = {"_name_or_path": None, "architectures": None}
    assert continued.config.to_dict() | drop == model.config.to_dict() | drop
    assert again["eval"]["eval_loss"] < first_loss - 0.2  # it started from the trained weights, not from scratch


@pytest.mark.slow
def test_task_adaptive_continuation_reads_the_tasks_training_texts_with_the_recipes_schedule(tmp_path, data_dir,
                                                                                             one_thread):
    """`--recipe cpu-budget --model_name_or_path CKPT --dataset_name ag_news`: the checkpoint continued on AG News'
    training texts (never its test file), with the recipe's batch and schedule and the checkpoint's architecture."""
    base = tmp_path / "base"
    train_mlm.main(mlm_args(corpus_file(data_dir), data_dir, base, "--max_steps", "2"))
    results = train_mlm.main(["--recipe", "cpu-budget", "--model_name_or_path", str(base), "--dataset_name",
                              "ag_news", "--data_dir", str(data_dir), "--max_train_minutes", "10000", "--max_steps",
                              "2", "--per_device_train_batch_size", "8", "--max_eval_samples", "16",
                              "--output_dir", str(tmp_path / "tapt")])
    assert results["data"]["source"].startswith("ag_news")
    assert results["data"]["training sequences"] > 0
    assert results["arguments"]["learning_rate"] == 1e-3 and results["arguments"]["lr_scheduler_type"] == "linear"
    continued = TLMForMaskedLM.from_pretrained(tmp_path / "tapt")
    assert continued.config.hidden_size == TLMForMaskedLM.from_pretrained(base).config.hidden_size == 64


@pytest.mark.slow
def test_diverged_run_stops_with_an_error_and_keeps_the_good_checkpoint(tmp_path, data_dir):
    """A learning rate of 1e6 blows the weights up: the run stops at the first non-finite loss with an error naming
    the step, exits 2, and writes neither a final model nor a checkpoint after the step that diverged."""
    out = tmp_path / "diverged"
    args = mlm_args(corpus_file(data_dir), data_dir, out, "--max_steps", "40", "--learning_rate", "1e6",
                    "--warmup_steps", "0", "--save_steps", "1")
    result = run_script("train_mlm.py", args, check=False)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    message = result.stderr.strip().splitlines()[-1]
    step = int(message.split(" at step ")[1].split(":")[0])
    assert message.startswith("error: the training loss is") and "diverged" in message and "Traceback" not in result.stderr
    assert not (out / "model.safetensors").exists() and not (out / "results.json").exists()
    assert max((int(p.name.split("-")[1]) for p in out.glob("checkpoint-*")), default=0) < step  # none after it


@pytest.mark.slow
def test_no_hub_token_in_any_file_written_and_the_vocabulary_recorded(tmp_path, data_dir):
    token = "hf_NotARealTokenButSecret123"
    out = tmp_path / "run"
    result = run_script("train_mlm.py", mlm_args(corpus_file(data_dir), data_dir, out, "--max_steps", "4",
                                                 "--save_steps", "2", "--hub_token", token),
                        env=script_env(CI="true"))  # CI=true: transformers' loggers propagate unless told not to
    log = (result.stdout + result.stderr).splitlines()
    assert token not in "\n".join(log)
    assert not [line for line in log if "Offline mode: forcing" in line]  # filtered, on every handler
    cache_lines = [line.split(" - ")[-1] for line in log if "datasets" in line and "cache" in line.lower()]
    assert cache_lines and len(cache_lines) == len(set(cache_lines))  # each datasets line once, not once per handler
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "training_args.bin" for p in files) and (out / "results.json").is_file()
    assert [p for p in files if token.encode() in p.read_bytes()] == []
    assert read_json(out / "progress.json") == {"step": 4, "max_steps": 4, "fraction": 1.0}  # what watchers read
    args = torch.load(out / "training_args.bin", weights_only=False)
    assert args.hub_token is None and args.max_steps == 4  # the rest of the arguments are kept
    from modeling_tlm.data.tokenization import vocab_fingerprint
    expected = vocab_fingerprint(load_tokenizer(out))
    assert read_json(out / "config.json")["vocab_fingerprint"] == expected
    assert read_json(out / "checkpoint-2" / "config.json")["vocab_fingerprint"] == expected


@pytest.mark.slow
def test_activation_checkpointing_flag(tmp_path, data_dir, one_thread):
    results = train_mlm.main(mlm_args(corpus_file(data_dir), data_dir, tmp_path / "run", "--max_steps", "2",
                                      "--activation_checkpointing"))
    assert results["train"]["global_step"] == 2 and results["arguments"]["activation_checkpointing"] is True


def test_two_checkpoints_are_kept_by_default(tmp_path):
    _, _, training_args = parse_args(MLM_TYPES, MLM_DEFAULTS, ["--output_dir", str(tmp_path), "--model_preset", "tiny"])
    assert training_args.save_total_limit == 2
