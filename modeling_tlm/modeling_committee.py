"""A soft committee of TLM classifiers as one transformers model.

    input_ids (B, T)
      -> N fine-tuned TLMForSequenceClassification members   member logits      (N, B, C)
      -> combine: soft (mean of probabilities, default) | logits (mean of logits) | vote
      -> committee logits = log of the combined class probabilities           (B, C)

In inference (eval mode, no autograd) members that share an architecture run as ONE batched computation: their
weights are stacked along a leading member axis (cached until a weight changes) and the members' own forward
(modeling_tlm.py, not a copy of it) runs on member-major activations with every linear layer a batched matmul, every
LayerNorm per member and every conv a grouped conv (`member_stack`); the last transformer layer is computed for the
[CLS] position only, as in every member. The result equals running the members one after another (fp32, 1e-5;
tested).

This file travels with every committee checkpoint (Hub `trust_remote_code` loading), so it imports only torch,
transformers and, relatively, the TLM files beside it.
"""

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoTokenizer, PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_committee import TLMCommitteeConfig, label_difference, vocab_difference
from .configuration_tlm import TLMConfig
from .modeling_tlm import TLMForSequenceClassification, load_without_missing_weights

# Config fields that decide the members' weight shapes and eval-mode forward: members equal on all of them are fused.
_ARCHITECTURE_FIELDS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "pre_norm", "alibi", "num_conv_layers",
    "conv_kernel_sizes", "conv_channels", "num_labels",
)
_EMBEDDINGS = "tlm.embeddings."  # every member runs its own embeddings (the word table is big): never stacked
_TOKENIZER_PROBE = "Hello WORLD, Ünïcödé café 1234 [MASK] tokenizers!"  # compares normalisation and splitting


@dataclass
class TLMCommitteeOutput(SequenceClassifierOutput):
    """`SequenceClassifierOutput` plus `member_logits` (batch, num_members, num_labels) when asked for."""

    member_logits: torch.FloatTensor | None = None


def combine_member_logits(member_logits: torch.Tensor, mode: str = "soft") -> torch.Tensor:
    """(N, B, C) member logits -> (B, C) committee logits, in fp32.

    soft:   log of the mean of the members' probabilities (softmax of the result = the averaged probabilities).
    logits: the mean of the members' logits.
    vote:   log of (votes + mean probabilities) / (N + 1): a distribution whose argmax is the majority class, ties
            broken by the averaged probabilities (they add less than one vote), and whose loss stays finite.
    """
    num_members = member_logits.shape[0]
    log_probs = member_logits.float().log_softmax(-1)  # (N, B, C)
    if mode == "soft":
        return torch.logsumexp(log_probs, dim=0) - math.log(num_members)
    if mode == "logits":
        return member_logits.float().mean(0)
    if mode == "vote":
        votes = F.one_hot(member_logits.argmax(-1), member_logits.shape[-1]).sum(0)  # (B, C)
        return torch.log((votes + log_probs.exp().mean(0)) / (num_members + 1))
    raise ValueError(f"combine mode must be 'soft', 'logits' or 'vote', got {mode!r}")


class TLMCommitteeForSequenceClassification(PreTrainedModel):
    """N TLM classifiers with one label set and tokenizer; their class probabilities are averaged (see the module
    docstring). `forward(..., output_member_logits=True)` also returns each member's logits.

    Attributes:
        fused_inference (`bool`, default True): fuse members of one architecture in eval mode without autograd.
        last_layer_cls_only (`bool`, default True): in the fused path, compute the last layer for [CLS] only.
    """

    config_class = TLMCommitteeConfig
    config: TLMCommitteeConfig
    base_model_prefix = "committee"
    main_input_name = "input_ids"
    _no_split_modules = ["TLMForSequenceClassification"]

    def __init__(self, config: TLMCommitteeConfig):
        super().__init__(config)
        if not config.members:
            raise ValueError("TLMCommitteeConfig.members is empty: a committee needs at least one member")
        member_configs = config.member_configs
        self.members = nn.ModuleList(TLMForSequenceClassification(c) for c in member_configs)
        groups = {}
        for index, member_config in enumerate(member_configs):
            groups.setdefault(_architecture(member_config), []).append(index)
        self._groups = list(groups.values())  # member indices per shared architecture, in member order
        self._stack_cache = {}  # group number -> (weights' identity, its member_stack)
        self.fused_inference = True
        self.last_layer_cls_only = True
        self.post_init()

    def _init_weights(self, module):
        pass  # every member initialises its own weights (transformers dispatches to each sub-model's init)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, but a committee checkpoint that lacks member weights is an error (they
        would otherwise be initialised at random with only a warning)."""
        return load_without_missing_weights(super().from_pretrained, args, kwargs, may_be_missing=lambda key: False,
                                            problem="is a committee that lacks member weights")

    @classmethod
    def from_members(cls, members, combine: str = "soft", **load_kwargs) -> "TLMCommitteeForSequenceClassification":
        """A committee of fine-tuned TLM classifiers: paths / Hub repo ids (loaded with `load_kwargs`) or models.

        Members must agree on labels, vocabulary (size and special-token ids) and, where their checkpoints carry
        one, tokenizer; a disagreement is a ValueError naming the member and the difference. Models given as
        objects become the committee's members as they are (shared, not copied).
        """
        if not members:
            raise ValueError("from_members needs at least one member")
        models, names, tokenizers = [], [], []
        for index, member in enumerate(members):
            if isinstance(member, TLMForSequenceClassification):
                models.append(member)
                names.append(f"members[{index}] ({member.name_or_path or 'in-memory model'})")
                tokenizers.append(None)
            elif isinstance(member, (str, os.PathLike)):
                models.append(_load_member(str(member), **load_kwargs))
                names.append(f"members[{index}] ({member})")
                tokenizers.append(load_member_tokenizer(str(member)))
            else:
                raise TypeError(
                    f"members[{index}] is a {type(member).__name__}; give a checkpoint path, a Hub repo id or a "
                    "TLMForSequenceClassification"
                )
        reference = models[0].config
        for name, model in zip(names[1:], models[1:]):
            if model.config.id2label != reference.id2label:
                raise ValueError(f"{name}: {label_difference(model.config.id2label, reference.id2label)} of {names[0]}")
            diff = vocab_difference(model.config, reference)
            if diff:
                raise ValueError(f"{name} differs from {names[0]} in {diff}: members must share one vocabulary")
        with_tokenizer = [(name, tok) for name, tok in zip(names, tokenizers) if tok is not None]
        for name, tokenizer in with_tokenizer[1:]:
            diff = tokenizer_difference(tokenizer, with_tokenizer[0][1])
            if diff:
                raise ValueError(f"{name} has another tokenizer than {with_tokenizer[0][0]}: {diff}")

        config = TLMCommitteeConfig(members=[m.config for m in models], combine=combine)
        with torch.device("meta"):  # members built here would only be thrown away: no weights, no init
            committee = cls(config)
        committee.members = nn.ModuleList(models)
        return committee.eval()

    # Arguments spelled out, as the members' own forward (modeling_tlm.TLMModel.forward says why).
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        labels=None,
        output_member_logits=None,
        return_dict=None,
        **kwargs,
    ):
        if input_ids is None:
            raise ValueError("TLMCommitteeForSequenceClassification needs input_ids")
        member_logits = self.member_logits(input_ids, attention_mask, token_type_ids, position_ids)  # (N, B, C)
        logits = combine_member_logits(member_logits, self.config.combine)  # (B, C)
        loss = None
        if labels is not None:
            if labels.is_floating_point():
                raise ValueError("A committee takes integer class labels (single-label classification)")
            loss = F.cross_entropy(logits, labels.view(-1))  # logits are log-probabilities for soft and vote
        output = TLMCommitteeOutput(
            loss=loss, logits=logits, member_logits=member_logits.transpose(0, 1) if output_member_logits else None
        )
        return output if return_dict is not False else output.to_tuple()

    def member_logits(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None) -> torch.Tensor:
        """(N, B, C) logits of every member. Fused per architecture in eval mode without autograd (the stacked
        weights are detached copies, so training and gradients take the member-by-member path)."""
        if not self.fused_inference or self.training or torch.is_grad_enabled():
            return torch.stack([m(input_ids, attention_mask, token_type_ids, position_ids).logits for m in self.members])
        logits = [None] * len(self.members)
        for number, indices in enumerate(self._groups):
            group = [self.members[i] for i in indices]
            group_logits = fused_member_logits(self._member_stack(number, group), input_ids, attention_mask,
                                               token_type_ids, position_ids, self.last_layer_cls_only)  # (n, B, C)
            for i, member_logits in zip(indices, group_logits):
                logits[i] = member_logits
        return torch.stack(logits)

    def _member_stack(self, number, group) -> TLMForSequenceClassification:
        """The group's `member_stack`, rebuilt when any weight was replaced, moved or modified in place."""
        identity = tuple((t.data_ptr(), _version(t)) for m in group for t in (*m.parameters(), *m.buffers()))
        cached = self._stack_cache.get(number)
        if cached is None or cached[0] != identity:
            cached = (identity, member_stack(group, stack_member_weights(group)))
            self._stack_cache[number] = cached
        return cached[1]


def _version(tensor) -> int:
    """The in-place modification counter; tensors made under `torch.inference_mode` have none (-1: never rebuilt)."""
    try:
        return tensor._version
    except RuntimeError:
        return -1


def _architecture(config: TLMConfig) -> tuple:
    return tuple(repr(getattr(config, field)) for field in _ARCHITECTURE_FIELDS)


@torch.no_grad()
def stack_member_weights(members) -> dict:
    """{state-dict key: (N, ...) tensor} of members of one architecture, embeddings excepted (each member looks up
    its own). Each layer's fused QKV weight is also split into its `qkv.q` and `qkv.kv` parts (contiguous), for the
    [CLS]-only last layer."""
    states = [m.state_dict() for m in members]
    stacked = {key: torch.stack([s[key] for s in states]) for key in states[0] if not key.startswith(_EMBEDDINGS)}
    hidden = members[0].config.hidden_size
    for i in range(members[0].config.num_hidden_layers):
        for kind in ("weight", "bias"):
            qkv = stacked[f"tlm.layers.{i}.qkv.{kind}"]  # (N, 3H, H) / (N, 3H)
            stacked[f"tlm.layers.{i}.qkv.q.{kind}"] = qkv[:, :hidden].contiguous()
            stacked[f"tlm.layers.{i}.qkv.kv.{kind}"] = qkv[:, hidden:].contiguous()
    return stacked


class MemberStackLinear(nn.Module):
    """N members' copies of one linear layer as one batched matmul. Activations are member-major, (N * B, ..., in):
    member j's rows are [j * B, (j + 1) * B). `part` ("q" / "kv") as `TLMQKV`: stacked[name.part.*] hold those rows."""

    def __init__(self, stacked, name):
        super().__init__()
        self.stacked, self.name = stacked, name

    def forward(self, x, part=None):
        key = self.name if part is None else f"{self.name}.{part}"
        weight, bias = self.stacked[f"{key}.weight"], self.stacked[f"{key}.bias"]  # (N, out, in), (N, out)
        members = weight.shape[0]
        flat = x.reshape(members, -1, x.shape[-1])  # (N * B, ..., in) -> (N, B * ..., in)
        return torch.baddbmm(bias.unsqueeze(1), flat, weight.transpose(1, 2)).view(*x.shape[:-1], -1)


class MemberStackLayerNorm(nn.Module):
    """N members' copies of one LayerNorm over member-major activations (N * B, ..., H)."""

    def __init__(self, stacked, name, eps):
        super().__init__()
        self.stacked, self.name, self.eps = stacked, name, eps

    def forward(self, x):
        weight, bias = self.stacked[f"{self.name}.weight"], self.stacked[f"{self.name}.bias"]  # (N, H)
        flat = F.layer_norm(x.reshape(weight.shape[0], -1, x.shape[-1]), x.shape[-1:], eps=self.eps)  # (N, B*.., H)
        return torch.addcmul(bias.unsqueeze(1), flat, weight.unsqueeze(1)).view(x.shape)


class MemberStackEmbeddings(nn.Module):
    """Every member's own embedding module on the same input ids, member-major: (B, T) -> (N * B, T, H)."""

    def __init__(self, members):
        super().__init__()
        self.members = [m.tlm.embeddings for m in members]  # a plain list: not the stack's own submodules

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        return torch.cat([embed(input_ids, token_type_ids, position_ids, inputs_embeds) for embed in self.members])


class MemberStackConv(nn.Module):
    """N members' conv front ends: each of the members' conv stack modules for all members at once, member = channel
    group. One grouped conv per Conv2d where that is faster (CPU), else one conv per member: on an H200, cuDNN's
    grouped kernels for these shapes took 1.2-2.6x the time of N plain convs (benchmarks/committee_latency.py)."""

    def __init__(self, members, stacked, grouped: bool):
        super().__init__()
        self.layers = list(members[0].tlm.conv.layers)  # the module types and hyper-parameters to follow
        self.stacked, self.grouped, self.num = stacked, grouped, len(members)

    def forward(self, x):
        x = x.view(self.num, -1, *x.shape[1:]).transpose(0, 1)  # (N * B, T, H) -> (B, N, T, H): member = channel
        for i, module in enumerate(self.layers):
            name = f"tlm.conv.layers.{i}"
            if isinstance(module, nn.Conv2d):
                weight, bias = self.stacked[f"{name}.weight"], self.stacked[f"{name}.bias"]  # (N, out, in, kh, kw)
                if self.grouped:
                    x = F.conv2d(x, weight.flatten(0, 1), bias.flatten(), padding=module.padding, groups=self.num)
                else:
                    x = torch.cat([F.conv2d(part, w, b, padding=module.padding)
                                   for part, w, b in zip(x.chunk(self.num, 1), weight, bias)], 1)
            elif isinstance(module, nn.BatchNorm2d):
                x = F.batch_norm(x, *(self.stacked[f"{name}.{k}"].flatten()
                                      for k in ("running_mean", "running_var", "weight", "bias")),
                                 training=False, eps=module.eps)
            else:
                x = module(x)  # the activation
        return x.transpose(0, 1).flatten(0, 1)  # (B, N, T, H) -> (N * B, T, H)


def member_stack(members, stacked, grouped_conv=None) -> TLMForSequenceClassification:
    """N members of one architecture as ONE TLMForSequenceClassification whose weights carry a member axis: its
    forward is the model's own (modeling_tlm.py), with every linear layer a batched matmul over members and every
    LayerNorm per member, on member-major activations. Inference only (the weights are detached copies).
    `grouped_conv`: the conv front ends as grouped convs (default: on CPU) or one conv per member."""
    config = members[0].config
    with torch.device("meta"):  # the shell's own weights are all replaced below
        stack = TLMForSequenceClassification(config)
    eps = config.layer_norm_eps
    stack.tlm.embeddings = MemberStackEmbeddings(members)
    if config.num_conv_layers:
        on_cpu = stacked["tlm.conv.layers.0.weight"].device.type == "cpu"
        stack.tlm.conv = MemberStackConv(members, stacked, on_cpu if grouped_conv is None else grouped_conv)
    for i, layer in enumerate(stack.tlm.layers):
        for name, module in list(layer.named_children()):
            key = f"tlm.layers.{i}.{name}"
            if isinstance(module, nn.Linear):
                setattr(layer, name, MemberStackLinear(stacked, key))
            elif isinstance(module, nn.LayerNorm):
                setattr(layer, name, MemberStackLayerNorm(stacked, key, eps))
    if stack.tlm.final_norm is not None:
        stack.tlm.final_norm = MemberStackLayerNorm(stacked, "tlm.final_norm", eps)
    stack.pooler, stack.classifier = MemberStackLinear(stacked, "pooler"), MemberStackLinear(stacked, "classifier")
    left = [name for name, t in (*stack.named_parameters(), *stack.named_buffers()) if t.is_meta]
    if left:  # a module the stack does not batch yet: it would run on meta tensors
        raise NotImplementedError(f"member_stack: no member-batched form for {left[:4]}")
    stack.num_members = len(members)
    return stack.eval()


def fused_member_logits(stack, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
                        cls_only=True) -> torch.Tensor:
    """Eval-mode forward of a `member_stack` of N members -> (N, B, C) logits. `cls_only`: the last layer for [CLS]
    only (the model's default); False runs it at every position, as when every hidden state is asked for."""
    num = stack.num_members
    mask = None if attention_mask is None else attention_mask.repeat(num, 1)  # (N * B, T), member-major
    logits = stack(input_ids, mask, token_type_ids, position_ids, output_hidden_states=not cls_only).logits
    return logits.view(num, input_ids.shape[0], -1)  # (N * B, C) -> (N, B, C)


def _load_member(path: str, **load_kwargs) -> TLMForSequenceClassification:
    config_dict, _ = PreTrainedConfig.get_config_dict(path, **load_kwargs)
    if config_dict.get("model_type") != TLMConfig.model_type:
        raise ValueError(
            f"Committee member {path!r} is a {config_dict.get('model_type')!r} checkpoint; members must be fine-tuned "
            f"{TLMConfig.model_type!r} classifiers"
        )
    model, info = TLMForSequenceClassification.from_pretrained(path, output_loading_info=True, **load_kwargs)
    missing_head = [key for key in info["missing_keys"] if key.startswith(("pooler.", "classifier."))]
    if missing_head:
        raise ValueError(
            f"Committee member {path!r} has no trained classification head ({', '.join(missing_head)} missing): it is "
            "a pre-trained checkpoint; fine-tune it on the task first"
        )
    return model.eval()


def load_member_tokenizer(path: str):
    """The member checkpoint's tokenizer, or None where it has none (a local folder without tokenizer files)."""
    if os.path.isdir(path) and not any(
        os.path.exists(os.path.join(path, name)) for name in ("tokenizer_config.json", "tokenizer.json", "vocab.txt")
    ):
        return None
    try:
        return AutoTokenizer.from_pretrained(path)
    except OSError:  # a Hub repo without tokenizer files
        return None


def tokenizer_difference(tokenizer, reference) -> str:
    """'' when two tokenizers map text to the same ids, else what differs (vocabulary entries, special tokens,
    normalisation of a probe string)."""
    vocab, ref_vocab = tokenizer.get_vocab(), reference.get_vocab()
    if vocab != ref_vocab:
        differing = sorted(t for t in set(vocab) | set(ref_vocab) if vocab.get(t) != ref_vocab.get(t))
        token = differing[0]
        return (f"vocabularies differ in {len(differing)} entries (sizes {len(vocab)} vs {len(ref_vocab)}), e.g. "
                f"{token!r}: id {vocab.get(token)} vs {ref_vocab.get(token)}")
    special, ref_special = dict(zip(tokenizer.all_special_tokens, tokenizer.all_special_ids)), dict(
        zip(reference.all_special_tokens, reference.all_special_ids))
    if special != ref_special:
        return f"special tokens {special} vs {ref_special}"
    ids, ref_ids = tokenizer(_TOKENIZER_PROBE)["input_ids"], reference(_TOKENIZER_PROBE)["input_ids"]
    if ids != ref_ids:
        return (f"{_TOKENIZER_PROBE!r} tokenizes to {tokenizer.convert_ids_to_tokens(ids)} vs "
                f"{reference.convert_ids_to_tokens(ref_ids)}")
    return ""


def register():
    """Make the Auto classes know "tlm-committee" and save the committee's code into its checkpoints."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    AutoConfig.register(TLMCommitteeConfig.model_type, TLMCommitteeConfig, exist_ok=True)
    AutoModelForSequenceClassification.register(
        TLMCommitteeConfig, TLMCommitteeForSequenceClassification, exist_ok=True
    )
    TLMCommitteeConfig.register_for_auto_class()
    TLMCommitteeForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")


__all__ = [
    "TLMCommitteeForSequenceClassification",
    "TLMCommitteeOutput",
    "combine_member_logits",
    "fused_member_logits",
    "member_stack",
    "stack_member_weights",
    "tokenizer_difference",
    "register",
]
