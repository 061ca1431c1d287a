"""TLM model configuration and the named presets of the paper "Tiny language models" (arXiv 2507.14871).

This file travels with every checkpoint (Hub `trust_remote_code` loading), so it imports only transformers, version
5 or newer (`PreTrainedConfig`, `transformers.initialization`): an older one is refused here with a clear message.
"""

import transformers

MIN_TRANSFORMERS = "5.0"
if int(transformers.__version__.split(".")[0]) < int(MIN_TRANSFORMERS.split(".")[0]):
    raise ImportError(f"TLM models need transformers>={MIN_TRANSFORMERS}, found {transformers.__version__}: "
                      f"pip install -U \"transformers>={MIN_TRANSFORMERS}\"")

from transformers import PreTrainedConfig  # noqa: E402 (after the version check, which names the problem)

# Every saved config names the classes that load it, so `trust_remote_code=True` works for every head.
AUTO_MAP = {
    "AutoConfig": "configuration_tlm.TLMConfig",
    "AutoModel": "modeling_tlm.TLMModel",
    "AutoModelForMaskedLM": "modeling_tlm.TLMForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_tlm.TLMForSequenceClassification",
}

# The special tokens' ids a TLMConfig records; the tokenizer must give the same ids (checked when one is loaded).
SPECIAL_TOKEN_ID_FIELDS = ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id")

# The paper's models. Head size is 64 throughout, the FFN is 4x hidden and sequences are 128 tokens (the defaults),
# so a preset only names depth, width and the convolutional front end. Parameter counts: see the README's table.
PRESETS: dict[str, dict] = {
    # BERT-6: the paper's deep model.
    "bert-6": dict(num_hidden_layers=6, num_attention_heads=12, hidden_size=768),
    # BERT-1 variants: one transformer layer, some with a conv front end ("d" = conv_channels).
    "bert-1-h24": dict(num_hidden_layers=1, num_attention_heads=24, hidden_size=1536),
    "bert-1-conv2-k3-d64": dict(
        num_hidden_layers=1, num_attention_heads=12, hidden_size=768, num_conv_layers=2, conv_kernel_size=3, conv_channels=64
    ),
    "bert-1-conv2-k3-d64-h8": dict(
        num_hidden_layers=1, num_attention_heads=8, hidden_size=512, num_conv_layers=2, conv_kernel_size=3, conv_channels=64
    ),
    "bert-1-conv3-k3-d32": dict(
        num_hidden_layers=1, num_attention_heads=12, hidden_size=768, num_conv_layers=3, conv_kernel_size=3, conv_channels=32
    ),
    # "k(16, 3)" read as one rectangular 16 (tokens) x 3 (features) kernel in both layers, which is what the paper's
    # code does with `nn.Conv2d(kernel_size=(16, 3))` (see shared/docs notes, §2).
    "bert-1-conv2-k16x3-d64": dict(
        num_hidden_layers=1,
        num_attention_heads=12,
        hidden_size=768,
        num_conv_layers=2,
        conv_kernel_size=(16, 3),
        conv_channels=64,
    ),
    # A conv-free BERT-1 of hidden 768: the committee member whose latency the paper's argument rests on.
    "bert-1": dict(num_hidden_layers=1, num_attention_heads=12, hidden_size=768),
    # tiny: 2 layers of hidden 128 for tests and minute-long CPU runs (most of its 4.4M parameters are embeddings).
    "tiny": dict(num_hidden_layers=2, num_attention_heads=2, hidden_size=128),
}

HEAD_SIZE = 64  # the paper's head size: hidden_size = heads x 64
FFN_MULTIPLIER = 4  # intermediate_size = 4 x hidden_size, as in BERT


class TLMConfig(PreTrainedConfig):
    r"""
    Configuration of a tiny BERT-style language model with an optional convolutional front end.

    Defaults give the paper's BERT-6 with the bert-base-uncased vocabulary; use [`TLMConfig.from_preset`] for the
    other models of the paper.

    Args:
        vocab_size (`int`, defaults to 30522): size of the token vocabulary (bert-base-uncased has 30522).
        hidden_size (`int`, defaults to 768): width of the embeddings and transformer layers.
        num_hidden_layers (`int`, defaults to 6): number of transformer layers (BERT-6: 6, BERT-1: 1).
        num_attention_heads (`int`, defaults to 12): attention heads per layer; must divide `hidden_size`.
        intermediate_size (`int`, defaults to `4 * hidden_size`): width of the feed-forward layer.
        hidden_act (`str`, defaults to `"gelu"`): activation of the feed-forward layer and the MLM head (exact GELU,
            as BERT).
        hidden_dropout_prob (`float`, defaults to 0.1): dropout after embeddings, attention output and feed-forward.
        attention_probs_dropout_prob (`float`, defaults to 0.1): dropout on the attention probabilities.
        max_position_embeddings (`int`, defaults to 128): longest sequence the model accepts (the paper: 128).
        type_vocab_size (`int`, defaults to 2): number of token types (segment ids).
        initializer_range (`float`, defaults to 0.02): std of the normal init of linear and embedding weights.
        layer_norm_eps (`float`, defaults to 1e-12): LayerNorm epsilon, as BERT.
        pre_norm (`bool`, defaults to `False`): where each layer's LayerNorms sit. `False`: after each residual
            addition, as BERT (post-LN; the only form that converts to a transformers BERT). `True`: at the input of
            each attention and feed-forward branch, with one more LayerNorm after the last layer (pre-LN; Xiong et
            al. 2020, and Cramming's choice for short budgets: the residual stream carries the embeddings through
            unnormalised, which makes early training faster and stable without a long warm-up).
        alibi (`bool`, defaults to `False`): add ALiBi's distance penalty to every attention score (Press et al. 2022;
            MosaicBERT, Portes et al. 2023, for BERT pre-training): head h adds -slope_h * |i - j|, slopes
            2^(-8h/heads), so every head prefers nearby tokens from the first step instead of having to discover
            position from the learned position embeddings (which stay). Not a BERT model then.
        pad_token_id / cls_token_id / sep_token_id / mask_token_id (`int`): ids of [PAD] (0), [CLS] (101),
            [SEP] (102) and [MASK] (103) in bert-base-uncased; they must agree with the tokenizer.
        classifier_dropout (`float`, *optional*): dropout before the classifier; `None` uses `hidden_dropout_prob`.
        num_conv_layers (`int`, defaults to 0): convolutional layers between the embeddings and the first
            transformer layer; 0 = none (a plain BERT).
        conv_kernel_size (`int`, pair, or list): kernel of the conv layers over the (tokens x hidden) map. An int `k`
            is a k x k kernel in every layer; a flat pair `(16, 3)` is one rectangular kernel (16 tokens x 3
            features) in every layer; a list of `num_conv_layers` entries (ints or pairs) gives each layer its own.
        conv_channels (`int`, defaults to 64): channels of the conv layers (the paper's `d`).
        vocab_fingerprint (`str`, *optional*): hash of the tokenizer's vocabulary in id order, written by the
            training scripts with every checkpoint; a tokenizer of the same size with other tokens is refused.
    """

    model_type = "tlm"

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int | None = None
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 128
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pre_norm: bool = False
    alibi: bool = False
    pad_token_id: int | None = 0
    cls_token_id: int | None = 101
    sep_token_id: int | None = 102
    mask_token_id: int | None = 103
    classifier_dropout: float | None = None
    num_conv_layers: int = 0
    conv_kernel_size: int | list = 3
    conv_channels: int = 64
    vocab_fingerprint: str | None = None
    tie_word_embeddings: bool = True
    auto_map: dict | None = None

    def __post_init__(self, **kwargs):
        if self.intermediate_size is None:
            self.intermediate_size = FFN_MULTIPLIER * self.hidden_size
        if isinstance(self.conv_kernel_size, tuple):  # JSON has no tuples: store the same thing a reload gives
            self.conv_kernel_size = list(self.conv_kernel_size)
        if self.auto_map is None:
            self.auto_map = dict(AUTO_MAP)
        self._validate()
        super().__post_init__(**kwargs)

    def _validate(self):
        for field in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                      "max_position_embeddings", "type_vocab_size", "conv_channels"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"TLMConfig.{field} must be a non-negative int, got {value!r}")
        for field in ("vocab_size", "hidden_size", "num_attention_heads", "max_position_embeddings", "conv_channels"):
            if getattr(self, field) == 0:
                raise ValueError(f"TLMConfig.{field} must be positive, got 0")
        if not isinstance(self.num_conv_layers, int) or self.num_conv_layers < 0:
            raise ValueError(f"TLMConfig.num_conv_layers must be a non-negative int, got {self.num_conv_layers!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"TLMConfig.hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        for field in ("pre_norm", "alibi"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"TLMConfig.{field} must be True or False, got {getattr(self, field)!r}")
        for field in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, field)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"TLMConfig.{field} must be in [0, 1), got {value!r}")
        for field in SPECIAL_TOKEN_ID_FIELDS:
            value = getattr(self, field)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"TLMConfig.{field} ({value}) must lie in [0, vocab_size={self.vocab_size})")
        self.conv_kernel_sizes  # raises on a malformed conv_kernel_size

    @property
    def conv_kernel_sizes(self) -> list[tuple[int, int]]:
        """One (tokens, features) kernel per conv layer, from whichever form `conv_kernel_size` was given in."""
        k, n = self.conv_kernel_size, self.num_conv_layers

        def as_pair(entry):
            pair = (entry, entry) if isinstance(entry, int) else tuple(entry)
            if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
                raise ValueError(
                    f"TLMConfig.conv_kernel_size: each kernel must be a positive int or a pair of them, got {entry!r}"
                )
            return pair

        if isinstance(k, int):
            return [as_pair(k)] * n
        if not isinstance(k, (list, tuple)):
            raise ValueError(f"TLMConfig.conv_kernel_size must be an int, a pair or a list, got {k!r}")
        if len(k) == 2 and all(isinstance(v, int) for v in k):  # a flat pair is one rectangular kernel
            return [as_pair(k)] * n
        if len(k) != n:
            raise ValueError(
                f"TLMConfig.conv_kernel_size lists {len(k)} kernels but num_conv_layers is {n}: give one per layer"
            )
        return [as_pair(entry) for entry in k]

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "TLMConfig":
        """The config of a named preset (see `PRESETS`), with any field overridden, e.g. `vocab_size=8000`."""
        if name not in PRESETS:
            raise ValueError(f"Unknown TLM preset {name!r}; choose one of: {', '.join(PRESETS)}")
        fields = dict(PRESETS[name])
        fields.update(overrides)
        return cls(**fields)


__all__ = ["TLMConfig", "PRESETS", "SPECIAL_TOKEN_ID_FIELDS"]
