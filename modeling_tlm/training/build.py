"""Tokenizer, config and model from the model arguments, shared by train_mlm.py and train_cls.py."""

import logging
import os
import re
from pathlib import Path

import yaml
from transformers import AutoConfig

from ..configuration_tlm import SPECIAL_TOKEN_ID_FIELDS, TLMConfig
from ..data import check_tokenizer_matches_config, load_tokenizer
from .checks import ArgumentError, check_checkpoint_weights, check_tlm_config

logger = logging.getLogger(__name__)

DEFAULT_TOKENIZER = "bert-base-uncased"  # the paper's tokenizer (only the tokenizer; weights are trained from scratch)
# Config fields that follow the tokenizer when a new model is built from a preset.
CONFIG_FIELDS = tuple(k for k in TLMConfig.__annotations__ if k not in ("auto_map", "vocab_fingerprint"))
# The fields --config_overrides may change on a checkpoint: they hold no weights, so the checkpoint's weights still
# fit. Pre-training without dropout and fine-tuning with it (as Cramming does) needs exactly these.
CHECKPOINT_OVERRIDABLE_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")


def tokenizer_name(model_args, data_args) -> str:
    """--tokenizer_name, else the checkpoint's own, else <data_dir>/bert-base-uncased, else the Hub's."""
    if model_args.tokenizer_name:
        return model_args.tokenizer_name
    if model_args.model_name_or_path:
        return model_args.model_name_or_path
    local = Path(data_args.data_dir or "") / DEFAULT_TOKENIZER
    return str(local) if data_args.data_dir and local.is_dir() else DEFAULT_TOKENIZER


def parse_config_overrides(text: str | None) -> dict:
    """'hidden_size=256,conv_kernel_size=[16,3]' -> {"hidden_size": 256, "conv_kernel_size": [16, 3]}."""
    if not text:
        return {}
    if text.count("[") != text.count("]"):
        raise ArgumentError(f"--config_overrides {text!r}: unbalanced brackets (e.g. conv_kernel_size=[16,3])")
    overrides = {}
    for item in re.split(r",(?![^\[]*\])", text):  # commas outside [...] separate items
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ArgumentError(f"--config_overrides: {item!r} is not key=value (e.g. 'hidden_size=256,num_hidden_layers=2')")
        if key not in CONFIG_FIELDS:
            raise ArgumentError(f"--config_overrides: {key!r} is not a TLMConfig field; known: {', '.join(CONFIG_FIELDS)}")
        try:
            overrides[key] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ArgumentError(f"--config_overrides: the value of {key} ({value!r}) is not valid: "
                                f"{str(e).splitlines()[0]} (e.g. conv_kernel_size=[16,3])") from None
    return overrides


def build_config(model_args, tokenizer) -> TLMConfig:
    """The TLMConfig of the model to train: from a checkpoint, a config file, or a preset (+ --config_overrides).

    A preset follows the tokenizer (vocab_size and special-token ids), so a smaller trained vocabulary just works;
    a checkpoint or --config_name must already match it. The tokenizer's model_max_length is capped to the model's.
    """
    overrides = parse_config_overrides(model_args.config_overrides)
    if model_args.model_name_or_path:
        config = _auto_config(model_args.model_name_or_path, "--model_name_or_path")
        check_tlm_config(config, model_args.model_name_or_path)
        check_checkpoint_weights(config, model_args.model_name_or_path)
        fixed = sorted(set(overrides) - set(CHECKPOINT_OVERRIDABLE_FIELDS))
        if fixed:
            raise ArgumentError(f"--config_overrides {', '.join(fixed)} with --model_name_or_path "
                                f"{model_args.model_name_or_path}: a checkpoint's architecture is fixed by its "
                                f"weights; only {', '.join(CHECKPOINT_OVERRIDABLE_FIELDS)} may change")
        config = _with_overrides(config, overrides, f"--model_name_or_path {model_args.model_name_or_path}")
    elif model_args.config_name:
        config = _auto_config(model_args.config_name, "--config_name")
        check_tlm_config(config, model_args.config_name)
        config = _with_overrides(config, overrides, f"--config_name {model_args.config_name}")
    else:
        from_tokenizer = {"vocab_size": len(tokenizer), **{k: getattr(tokenizer, k) for k in SPECIAL_TOKEN_ID_FIELDS}}
        try:
            config = TLMConfig.from_preset(model_args.model_preset, **{**from_tokenizer, **overrides})
        except (TypeError, ValueError) as e:
            raise ArgumentError(f"--model_preset {model_args.model_preset} with --config_overrides: {e}") from None
    check_tokenizer_matches_config(tokenizer, config)
    # Saved with the model, so that `truncation=True` (in pipelines too) cuts to what the model accepts
    # (bert-base-uncased's own says 512); without it, a longer text is an error, not a silent cut.
    tokenizer.model_max_length = min(tokenizer.model_max_length, config.max_position_embeddings)
    return config


def _with_overrides(config: TLMConfig, overrides: dict, source: str) -> TLMConfig:
    """`config` with `overrides` applied, checked by TLMConfig's own validation (which names the field)."""
    if not overrides:
        return config
    try:
        return TLMConfig.from_dict({**config.to_dict(), **overrides})
    except (TypeError, ValueError) as e:
        raise ArgumentError(f"{source} with --config_overrides: {e}") from None


def _auto_config(name_or_path: str, flag: str):
    path = Path(name_or_path).expanduser()
    try:
        if path.is_file():  # a config.json file
            return TLMConfig.from_json_file(str(path))
        return AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        raise ArgumentError(f"{flag} {name_or_path}: could not load a config: {e}") from None


def build_tokenizer(model_args, data_args):
    name = tokenizer_name(model_args, data_args)
    logger.info("Tokenizer: %s", name)
    return load_tokenizer(os.path.expanduser(name))
