"""Convert between TLM and transformers' BERT (conv-free TLMs only).

A TLM without the conv front end is BERT with renamed weights and a fused QKV projection, so the conversion is a
key map plus a concatenation. It is our reference check (litgpt-style): the tests convert random models both ways and
compare outputs with transformers' own `BertForMaskedLM` / `BertForSequenceClassification`.
"""

import torch
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel

from .configuration_tlm import TLMConfig
from .modeling_tlm import TLMForMaskedLM, TLMForSequenceClassification, TLMModel

# Fields that mean the same in both configs.
_SHARED_CONFIG_FIELDS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
    "initializer_range", "layer_norm_eps", "pad_token_id", "classifier_dropout", "id2label", "label2id", "problem_type",
)

# TLM key -> BERT key, per layer ({i} = layer index); qkv is handled apart (one TLM tensor = three BERT tensors).
_LAYER_KEYS = {
    "attention_output": "attention.output.dense",
    "attention_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
    "output_norm": "output.LayerNorm",
}
_HEAD_KEYS = {  # TLM key -> BERT key, outside the encoder layers
    "lm_head.dense": "cls.predictions.transform.dense",
    "lm_head.LayerNorm": "cls.predictions.transform.LayerNorm",
    "lm_head.decoder": "cls.predictions.decoder",
    "pooler": "bert.pooler.dense",
    "classifier": "classifier",
}
_BERT_CLASS = {TLMModel: BertModel, TLMForMaskedLM: BertForMaskedLM, TLMForSequenceClassification: BertForSequenceClassification}


def tlm_config_to_bert(config: TLMConfig) -> BertConfig:
    if config.num_conv_layers:
        raise ValueError(f"Only conv-free TLMs are BERT models; this one has num_conv_layers={config.num_conv_layers}")
    if config.pre_norm:
        raise ValueError("Only post-LN TLMs are BERT models; this one has pre_norm=True (BERT has no pre-LN form)")
    if config.alibi:
        raise ValueError("TLMs with alibi=True are not BERT models (BERT has no attention bias)")
    return BertConfig(**{field: getattr(config, field) for field in _SHARED_CONFIG_FIELDS})


def bert_config_to_tlm(config: BertConfig) -> TLMConfig:
    return TLMConfig(**{field: getattr(config, field) for field in _SHARED_CONFIG_FIELDS})


def _key_pairs(config, bert_prefix: str):
    """(TLM key, BERT key) for every weight and bias of a conv-free TLM, except the fused qkv."""
    pairs = [
        (f"tlm.embeddings.{name}", f"{bert_prefix}embeddings.{name}")
        for name in ("word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
                     "LayerNorm.weight", "LayerNorm.bias")
    ]
    for i in range(config.num_hidden_layers):
        for ours, theirs in _LAYER_KEYS.items():
            for suffix in ("weight", "bias"):
                pairs.append((f"tlm.layers.{i}.{ours}.{suffix}", f"{bert_prefix}encoder.layer.{i}.{theirs}.{suffix}"))
    for ours, theirs in _HEAD_KEYS.items():
        for suffix in ("weight", "bias"):
            pairs.append((f"{ours}.{suffix}", f"{theirs}.{suffix}"))
    return pairs


def _qkv_keys(i: int, bert_prefix: str):
    return [f"{bert_prefix}encoder.layer.{i}.attention.self.{name}" for name in ("query", "key", "value")]


def tlm_state_dict_to_bert(state: dict, config: TLMConfig, bert_prefix: str = "bert.") -> dict:
    """A TLM state dict (keys prefixed "tlm.") as BERT keys; heads the TLM lacks are left out."""
    bert = {theirs: state[ours] for ours, theirs in _key_pairs(config, bert_prefix) if ours in state}
    for i in range(config.num_hidden_layers):
        for suffix in ("weight", "bias"):
            for key, part in zip(_qkv_keys(i, bert_prefix), state[f"tlm.layers.{i}.qkv.{suffix}"].chunk(3)):
                bert[f"{key}.{suffix}"] = part
    if "cls.predictions.decoder.bias" in bert:  # BERT keeps the decoder bias under a second name too
        bert["cls.predictions.bias"] = bert["cls.predictions.decoder.bias"]
    return bert


def bert_state_dict_to_tlm(state: dict, config: TLMConfig, bert_prefix: str = "bert.") -> dict:
    """A BERT state dict as TLM keys ("tlm." prefix); heads BERT lacks are left out."""
    state = dict(state)
    if "cls.predictions.bias" in state:
        state.setdefault("cls.predictions.decoder.bias", state["cls.predictions.bias"])
    tlm = {ours: state[theirs] for ours, theirs in _key_pairs(config, bert_prefix) if theirs in state}
    for i in range(config.num_hidden_layers):
        for suffix in ("weight", "bias"):
            tlm[f"tlm.layers.{i}.qkv.{suffix}"] = torch.cat([state[f"{k}.{suffix}"] for k in _qkv_keys(i, bert_prefix)])
    return tlm


def tlm_to_bert(model):
    """The transformers BERT model (same head) computing what `model` computes."""
    bert = _BERT_CLASS[type(model)](tlm_config_to_bert(model.config))
    state = {"tlm." + k: v for k, v in model.state_dict().items()} if isinstance(model, TLMModel) else model.state_dict()
    converted = tlm_state_dict_to_bert(state, model.config, "" if isinstance(model, TLMModel) else "bert.")
    _load_exact(bert, converted)
    return bert


def bert_to_tlm(model):
    """The TLM model (same head) computing what transformers' BERT `model` computes."""
    tlm_class = {v: k for k, v in _BERT_CLASS.items()}[type(model)]
    tlm = tlm_class(bert_config_to_tlm(model.config))
    bare = isinstance(model, BertModel)
    converted = bert_state_dict_to_tlm(model.state_dict(), tlm.config, "" if bare else "bert.")
    if bare:
        converted = {k.removeprefix("tlm."): v for k, v in converted.items()}
    _load_exact(tlm, converted)
    return tlm


def _load_exact(model, state: dict):
    """Load `state`, failing on anything but a tied alias or BERT's unused pooler/position-id buffers."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    # A bare BertModel has a pooler that a bare TLMModel lacks (TLM keeps it in the classification head).
    missing = [k for k in missing if not k.endswith(("decoder.weight", "position_ids", "token_type_ids"))
               and not k.startswith("pooler.dense.")]
    if missing or unexpected:
        raise ValueError(f"Conversion left weights unmatched: missing {missing}, unexpected {unexpected}")
