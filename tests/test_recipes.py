"""Recipes (modeling_tlm/recipes/*.yaml) and `--recipe`: named argument presets that the command line overrides."""

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from modeling_tlm.training import MLM_DEFAULTS, MLMDataArguments, ModelArguments, TLMTrainingArguments, parse_args
from modeling_tlm.training.arguments import RECIPES_DIR, recipe_model_flags
from modeling_tlm.training.checks import ArgumentError

MLM = (ModelArguments, MLMDataArguments, TLMTrainingArguments)


def parse(*argv):
    return parse_args(MLM, MLM_DEFAULTS, ["--output_dir", "out", *argv])


def test_named_recipe_sets_the_arguments_and_flags_override_it(tmp_path, monkeypatch):
    model, data, training = parse("--recipe", "cpu-budget")
    assert model.model_preset == "tiny" and "hidden_dropout_prob=0" in model.config_overrides
    assert training.max_train_minutes == 60 and training.warmup_steps == 0.06 and training.learning_rate == 1e-3
    assert data.sequence_mode == "packed" and data.dataset_name == "wikipedia"
    # The tokenizer the recipe ships is found beside it, from any working directory: relative below it (recorded
    # commands name no machine's folders), absolute elsewhere.
    shipped = (RECIPES_DIR / "wikipedia-wordpiece-8k").resolve()
    assert Path(model.tokenizer_name).resolve() == shipped
    assert Path(model.tokenizer_name).is_absolute() == (not shipped.is_relative_to(Path.cwd().resolve()))
    monkeypatch.chdir(tmp_path)
    elsewhere, _, _ = parse("--recipe", "cpu-budget")
    assert elsewhere.tokenizer_name == str(shipped)
    model, _, training = parse("--recipe", "cpu-budget", "--max_train_minutes", "7.5", "--learning_rate", "2e-3")
    assert training.max_train_minutes == 7.5 and training.learning_rate == 2e-3 and model.model_preset == "tiny"
    _, _, training = parse("--max_train_minutes", "5", "--recipe=cpu-budget")  # order does not matter
    assert training.max_train_minutes == 5


def test_recipe_from_a_path_and_from_an_arguments_file(tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("model_preset: tiny\nlearning_rate: 3.0e-3\nmax_train_minutes: 2\n")
    _, _, training = parse("--recipe", str(recipe))
    assert training.learning_rate == 3e-3 and training.max_train_minutes == 2
    args = tmp_path / "args.yaml"
    args.write_text(f"recipe: {recipe}\noutput_dir: out\nlearning_rate: 1.0e-4\n")
    model, _, training = parse_args(MLM, MLM_DEFAULTS, [str(args)])
    assert training.learning_rate == 1e-4 and training.max_train_minutes == 2 and model.model_preset == "tiny"


def test_bad_recipes_are_named(tmp_path):
    with pytest.raises(ArgumentError, match="neither a YAML file nor a named recipe .*cpu-budget"):
        parse("--recipe", "cpu-budgett")
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rat: 1e-3\n")
    with pytest.raises(ArgumentError, match=r"bad.yaml: learning_rat is not an argument"):
        parse("--recipe", str(bad))
    broken = tmp_path / "broken.yaml"
    broken.write_text("learning_rate: [1e-3\n")
    with pytest.raises(ArgumentError, match=r"broken.yaml: could not read it as YAML"):
        parse("--recipe", str(broken))


def test_the_recipe_tokenizer_and_its_scratch_twin():
    flags = recipe_model_flags("cpu-budget")
    tokenizer = AutoTokenizer.from_pretrained(flags[flags.index("--tokenizer_name") + 1])
    assert len(tokenizer) == 8192
    assert [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id,
            tokenizer.mask_token_id] == [0, 1, 2, 3, 4]
    text = "Anarchism is a political philosophy"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text.lower()
    assert flags[:2] == ["--model_preset", "tiny"] and "--config_overrides" in flags


def test_a_checkpoint_with_a_recipe_keeps_its_architecture_and_takes_the_training():
    """`--recipe R --model_name_or_path CKPT` continues pre-training CKPT with R's schedule: the recipe's model keys
    (preset, overrides, tokenizer) give way to the checkpoint's instead of contradicting it."""
    model, data, training = parse("--recipe", "cpu-budget", "--model_name_or_path", "ckpt", "--dataset_name", "ag_news")
    assert model.model_name_or_path == "ckpt"
    assert model.model_preset is None and model.config_overrides is None and model.tokenizer_name is None
    assert training.learning_rate == 1e-3 and training.per_device_train_batch_size == 64
    assert data.dataset_name == "ag_news" and data.sequence_mode == "packed"
