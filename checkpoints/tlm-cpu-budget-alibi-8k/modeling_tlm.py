"""Tiny language models (TLM): BERT-style encoders with an optional convolutional front end.

The whole forward pass lives in this one file, which travels with every checkpoint, so that
`AutoModel*.from_pretrained(repo, trust_remote_code=True)` works where the `modeling_tlm` package is not installed.
It imports only torch, transformers and the config file beside it.

    input_ids (B, T)
      -> TLMEmbeddings      word + position + token type, LayerNorm, dropout          (B, T, H)
      -> TLMConvFrontEnd    optional: (T x H) map as a 1-channel image, Conv2d stack  (B, T, H)
      -> TLMLayer x L       post-LN BERT blocks (or pre-LN + a final LayerNorm), SDPA  (B, T, H)
      -> head               MLM head, or [CLS] pooler + classifier

With `num_conv_layers=0`, `pre_norm=False` and `alibi=False` it computes exactly what transformers' BERT computes
with the same weights (see `modeling_tlm.conversion`), only faster: fused QKV projection, SDPA, the classifier's last layer only at [CLS], and,
with `TLMForMaskedLM.sparse_prediction` and MLM labels, the last layer, the MLM head and the vocabulary projection
only at the masked positions (the loss and gradients are the dense ones: nothing else reads the other positions'
outputs). The forward has no branch on tensor values, so it traces, compiles and exports with padding.
"""

import math

from .configuration_tlm import TLMConfig  # first: it refuses transformers < 5 with a clear message

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from transformers import PreTrainedModel  # noqa: E402
from transformers import initialization as init  # noqa: E402
from transformers.activations import ACT2FN  # noqa: E402
from transformers.modeling_layers import GradientCheckpointingLayer  # noqa: E402
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput, SequenceClassifierOutput  # noqa: E402

IGNORE_INDEX = -100  # label of positions that carry no loss (transformers' convention)


class TLMEmbeddings(nn.Module):
    """word + position + token-type embeddings, then LayerNorm and dropout (as BERT)."""

    def __init__(self, config: TLMConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        """input_ids (B, T), or inputs_embeds (B, T, H) in place of the word embeddings -> (B, T, H)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids and inputs_embeds")
        words = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, H)
        seq_len = words.shape[1]
        if seq_len > self.position_embeddings.num_embeddings:
            raise ValueError(
                f"Input has {seq_len} tokens but the model takes at most "
                f"max_position_embeddings={self.position_embeddings.num_embeddings}; truncate the input"
            )
        if position_ids is None:
            position_ids = torch.arange(seq_len, device=words.device)  # (T,), broadcast over the batch
        x = words + self.position_embeddings(position_ids)  # (B, T, H)
        if token_type_ids is None:
            x = x + self.token_type_embeddings.weight[0]  # all segment 0, without a (B, T) lookup
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class TLMConvFrontEnd(nn.Module):
    """The paper's convolutional front end, between the embeddings and the first transformer layer.

    The (T x H) activations are one 1-channel image; each layer is Conv2d ("same" padding) -> BatchNorm2d -> GELU
    with channels 1 -> d -> ... -> d, then a 1x1 Conv2d back to one channel -> BatchNorm2d -> GELU. No residual, and
    padding positions take part, as in the paper. Its weights and BatchNorm statistics are ordinary parameters and
    buffers, so checkpoints keep them (the paper's own loader silently dropped them).
    """

    def __init__(self, config: TLMConfig):
        super().__init__()
        channels = [1] + [config.conv_channels] * config.num_conv_layers
        layers = []
        for c_in, c_out, kernel in zip(channels[:-1], channels[1:], config.conv_kernel_sizes):
            layers += [nn.Conv2d(c_in, c_out, kernel, padding="same"), nn.BatchNorm2d(c_out), nn.GELU()]
        layers += [nn.Conv2d(channels[-1], 1, 1), nn.BatchNorm2d(1), nn.GELU()]  # 1x1 back to one channel
        self.layers = nn.Sequential(*layers)

    def forward(self, hidden_states):
        return self.layers(hidden_states.unsqueeze(1)).squeeze(1)  # (B, T, H) -> (B, 1, T, H) -> (B, T, H)


class TLMQKV(nn.Linear):
    """The fused Q, K, V projection H -> 3H; `part="q"` computes only the queries (H), `part="kv"` only the keys and
    values (2H), for the layers that need queries at fewer positions than keys and values."""

    def forward(self, x, part=None):
        if part is None:
            return super().forward(x)
        rows = slice(0, self.in_features) if part == "q" else slice(self.in_features, None)
        return F.linear(x, self.weight[rows], self.bias[rows])


class TLMLayer(GradientCheckpointingLayer):
    """A post-LN BERT block: x = LN(x + Attn(x)); x = LN(x + FFN(x)); with `config.pre_norm` the pre-LN block
    x = x + Attn(LN(x)); x = x + FFN(LN(x)). Q, K and V come from one fused matmul. Attention follows
    `config._attn_implementation` ("sdpa", the default, or "eager"), read at every call."""

    def __init__(self, config: TLMConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.attention_dropout = config.attention_probs_dropout_prob
        self.qkv = TLMQKV(config.hidden_size, 3 * config.hidden_size)
        self.attention_output = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x, attention_mask=None, output_mask=None, first_only=False, output_attentions=False):
        """x (B, T, H) -> (B, T, H). With a (B, T) boolean `output_mask`, only the N positions where it is True get
        queries and the rest of the block (their keys and values still come from every position): -> (N, H).
        With `first_only`, only the first position ([CLS]) does: -> (B, H), with no data-dependent shape.
        Returns (hidden states, attention probabilities (B, heads, T, T) if `output_attentions` else None)."""
        batch, seq_len, hidden = x.shape
        heads, head_size = self.num_heads, hidden // self.num_heads
        source = self.attention_norm(x) if self.config.pre_norm else x  # what Q, K and V are computed from
        if output_mask is None and not first_only:
            # (B, T, 3H) -> (3, B, heads, T, head_size)
            q, k, v = self.qkv(source).view(batch, seq_len, 3, heads, head_size).permute(2, 0, 3, 1, 4)
        elif first_only:
            # (B, T, 2H) -> (2, B, heads, T, head_size)
            k, v = self.qkv(source, "kv").view(batch, seq_len, 2, heads, head_size).permute(2, 0, 3, 1, 4)
            x, source = x[:, 0], source[:, 0]  # (B, T, H) -> (B, H): the residual stream goes on only at [CLS]
            q = self.qkv(source, "q").view(batch, 1, heads, head_size).transpose(1, 2)  # (B, heads, 1, head_size)
        else:
            # Each row's queries are packed to the left of a (B, M, H) block, M = most predicted positions in a row;
            # padding slots are zeros whose outputs nobody reads. Attention then costs M/T of the dense one.
            rows, slots = _packed_slots(output_mask)  # (N,), (N,)
            # (B, T, 2H) -> (2, B, heads, T, head_size)
            k, v = self.qkv(source, "kv").view(batch, seq_len, 2, heads, head_size).permute(2, 0, 3, 1, 4)
            # (B, T, H) -> (N, H): the residual stream goes on only at these positions
            x, source = x[output_mask], source[output_mask]
            q = self.qkv(source, "q")  # (N, H)
            q = q.new_zeros(batch, int(output_mask.sum(1).max()), hidden).index_put((rows, slots), q)  # (B, M, H)
            q = q.view(batch, -1, heads, head_size).transpose(1, 2)  # (B, M, H) -> (B, heads, M, head_size)
        if self.config.alibi:
            if first_only:
                query_positions = torch.zeros(1, 1, dtype=torch.long, device=x.device)  # (1, 1): [CLS]
            elif output_mask is None:
                query_positions = torch.arange(seq_len, device=x.device)[None]  # (1, T)
            else:  # each packed query slot's position in its row, (B, M); padding slots read position 0
                query_positions = torch.zeros(batch, q.shape[2], dtype=torch.long, device=x.device).index_put(
                    (rows, slots), output_mask.nonzero()[:, 1])
            attention_mask = _with_alibi(attention_mask, query_positions, seq_len, heads, q.dtype)
        implementation = "eager" if output_attentions else self.config._attn_implementation  # SDPA has no probs
        attended, probs = _attention(q, k, v, attention_mask, self.attention_dropout if self.training else 0.0,
                                     implementation)  # -> (B, heads, T or M or 1, head_size)
        attended = attended.transpose(1, 2).reshape(batch, -1, hidden)  # (B, T or M or 1, H)
        if first_only:
            attended = attended[:, 0]  # (B, 1, H) -> (B, H)
        elif output_mask is not None:
            attended = attended[rows, slots]  # (B, M, H) -> (N, H)
        attended = self.dropout(self.attention_output(attended))
        if self.config.pre_norm:
            x = x + attended
            return x + self._feed_forward(self.output_norm(x)), probs
        x = self.attention_norm(x + attended)
        return self.output_norm(x + self._feed_forward(x)), probs

    def _feed_forward(self, x):
        return self.dropout(self.output(self.activation(self.intermediate(x))))


def alibi_slopes(heads: int) -> torch.Tensor:
    """ALiBi's per-head slopes (Press et al. 2022): the geometric sequence 2^(-8/heads), 2^(-16/heads), ..., 2^-8."""
    return 2.0 ** (-8.0 * torch.arange(1, heads + 1) / heads)


def _with_alibi(attention_mask, query_positions, seq_len, heads, dtype):
    """The additive mask (B or 1, heads, Tq, T) of ALiBi, symmetric for an encoder: head h adds -slope_h * |i - j| to
    the score of query position i on key j, so every head prefers nearby tokens from the start; padding keys
    (False in the (B, 1, 1, T) boolean `attention_mask`) get the dtype's minimum."""
    slopes = alibi_slopes(heads).to(query_positions.device, dtype)  # (heads,)
    distance = (query_positions[:, None, :, None] - torch.arange(seq_len, device=query_positions.device)).abs()
    bias = -slopes[:, None, None] * distance.to(dtype)  # (B or 1, heads, Tq, T)
    return bias if attention_mask is None else bias.masked_fill(~attention_mask, torch.finfo(dtype).min)


def _attention(q, k, v, attention_mask, dropout_p, implementation="sdpa"):
    """Scaled dot-product attention: (B, heads, Tq, head_size) -> (attended, probabilities or None).

    "eager" computes the probabilities explicitly, as BERT's eager attention (masked scores set to the dtype's
    minimum, softmax, dropout) and returns them, after dropout as BERT does. "sdpa" goes through SDPA, except in
    bf16/fp16 training with dropout on a CPU: there SDPA's only CPU kernel that takes dropout (the "math" one) upcasts
    q, k and v to fp32, so both products miss the bf16 matrix units (AMX); the same attention is then computed as
    BERT's eager one under autocast: bf16 products, softmax and dropout in fp32 (the same dropout draws as SDPA's).
    Padding masks go to SDPA: it handles fully masked rows.
    """
    if implementation == "eager":
        scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # (B, heads, Tq, T)
        if attention_mask is not None and attention_mask.is_floating_point():  # additive (ALiBi)
            scores = scores + attention_mask
        elif attention_mask is not None:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        probs = F.dropout(scores.softmax(-1, dtype=torch.float32).to(q.dtype), dropout_p)
        return probs @ v, probs
    if dropout_p == 0 or attention_mask is not None or q.dtype == torch.float32 or q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, dropout_p=dropout_p), None
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)  # (B, heads, Tq, T)
    probs = F.dropout(scores.softmax(-1, dtype=torch.float32), dropout_p)
    return probs.to(v.dtype) @ v, None  # (B, heads, Tq, head_size)


def _packed_slots(mask):
    """(B, T) bool -> (rows, slots) of its True entries in row-major order, slot = rank of the entry in its row."""
    rows = mask.nonzero()[:, 0]
    slots = (mask.cumsum(1) - 1)[mask]
    return rows, slots


class TLMPreTrainedModel(PreTrainedModel):
    config_class = TLMConfig
    config: TLMConfig
    base_model_prefix = "tlm"
    main_input_name = "input_ids"
    _no_split_modules = ["TLMEmbeddings", "TLMLayer"]
    _supports_sdpa = True  # attention runs through SDPA by default; "eager" gives the probabilities
    supports_gradient_checkpointing = True  # TLMLayer is a GradientCheckpointingLayer
    # The heads take the Trainer's num_items_in_batch (so gradient accumulation is exact); without **kwargs in
    # forward, the Trainer needs to be told.
    accepts_loss_kwargs = True
    # Heads a checkpoint may legitimately lack or carry when loaded into another head (MLM <-> classification).
    _head_prefixes = ("lm_head.", "pooler.", "classifier.")

    def _init_weights(self, module):
        """BERT's init for linear, embedding and norm layers; PyTorch's own for the conv front end (as the paper)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Conv2d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))  # what nn.Conv2d.reset_parameters does
            fan_in = module.weight[0].numel()
            init.uniform_(module.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, but a checkpoint that lacks encoder weights is an error.

        transformers would initialise missing weights at random with a warning; for TLM that hides a config that does
        not match its weights (e.g. conv layers the checkpoint never had). Only the heads may be missing, so an MLM
        checkpoint still loads into a classifier with a fresh pooler and classifier.
        """
        prefix = f"{cls.base_model_prefix}."
        return load_without_missing_weights(
            super().from_pretrained, args, kwargs,
            may_be_missing=lambda key: key.removeprefix(prefix).startswith(cls._head_prefixes),
            problem="does not match its config: encoder weights missing from it",
            hint="Check num_conv_layers / num_hidden_layers in config.json against the saved weights.",
        )


def load_without_missing_weights(from_pretrained, args, kwargs, may_be_missing, problem: str, hint: str = ""):
    """`from_pretrained(*args, **kwargs)`, raising ValueError if weights other than `may_be_missing(key)` (and
    BatchNorm's step counters) are missing from the checkpoint; honours `output_loading_info`."""
    wants_info = kwargs.pop("output_loading_info", False)
    model, info = from_pretrained(*args, output_loading_info=True, **kwargs)
    missing = [key for key in info["missing_keys"] if not may_be_missing(key) and "num_batches_tracked" not in key]
    if missing:
        name = args[0] if args else kwargs.get("pretrained_model_name_or_path")
        raise ValueError(f"Checkpoint {name!r} {problem}: {missing[:8]}{' ...' if len(missing) > 8 else ''}"
                         + (f". {hint}" if hint else ""))
    return (model, info) if wants_info else model


class TLMModel(TLMPreTrainedModel):
    """The bare encoder: embeddings -> optional conv front end -> transformer layers. Returns `BaseModelOutput`."""

    def __init__(self, config: TLMConfig):
        super().__init__(config)
        self.embeddings = TLMEmbeddings(config)
        self.conv = TLMConvFrontEnd(config) if config.num_conv_layers > 0 else None
        self.layers = nn.ModuleList(TLMLayer(config) for _ in range(config.num_hidden_layers))
        # Pre-LN leaves the residual stream unnormalised: one LayerNorm after the last layer, as every pre-LN model.
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.pre_norm else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    # Each model class spells out its forward's arguments, as transformers' models do, instead of sharing
    # them through **kwargs: Trainer keeps only the dataset columns named in the signature, and pipelines and
    # the common model tests read it too.
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        output_mask=None,
        first_only=False,
    ):
        """`output_mask` (B, T) bool, optional: the positions whose last hidden state is wanted (the masked tokens in
        MLM training). The last layer then computes only those, and `last_hidden_state` is (N, H), N = mask.sum(),
        in row-major order; the hidden states of the positions left out would not change anything read downstream.
        `first_only`: the same for the first position alone ([CLS], what a classifier reads): (B, H).
        Asked for every layer's hidden states or attentions, every layer runs densely and the rows are picked after.
        """
        output_attentions = _or_config(output_attentions, self.config.output_attentions)
        output_hidden_states = _or_config(output_hidden_states, self.config.output_hidden_states)
        x = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)  # (B, T, H)
        if self.conv is not None:
            x = self.conv(x)
        all_hidden = [x] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        mask = _attention_bias(attention_mask)
        dense = output_hidden_states or output_attentions or not self.layers  # no layer restricts its outputs
        for i, layer in enumerate(self.layers):
            restrict = i == len(self.layers) - 1 and not dense
            x, probs = layer(x, mask, output_mask if restrict else None, first_only and restrict, output_attentions)
            if self.final_norm is not None and i == len(self.layers) - 1:
                x = self.final_norm(x)  # before it is recorded: the last hidden state is the normalised one
            if output_hidden_states:
                all_hidden.append(x)
            if output_attentions:
                all_attentions.append(probs)
        if dense and first_only:
            x = x[:, 0]  # (B, T, H) -> (B, H)
        elif dense and output_mask is not None:
            x = x[output_mask]  # (B, T, H) -> (N, H)
        output = BaseModelOutput(last_hidden_state=x, hidden_states=_tuple(all_hidden), attentions=_tuple(all_attentions))
        return output if _or_config(return_dict, self.config.return_dict) else output.to_tuple()


def _or_config(value, default):
    return default if value is None else value


def _tuple(items):
    return tuple(items) if items is not None else None


def _attention_bias(attention_mask):
    """(B, T) padding mask -> (B, 1, 1, T) boolean mask for SDPA (True = attend); None without a mask.

    No branch on the values, so the forward traces and exports with padding. A batch without padding is fastest
    without a mask (SDPA's fastest kernel): train_mlm.py's collator leaves the mask out of packed batches.
    """
    return None if attention_mask is None else attention_mask.bool()[:, None, None, :]


class TLMLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> decoder (weights tied to the word embeddings, plus a bias), as BERT."""

    def __init__(self, config: TLMConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, hidden_states):
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden_states))))  # (..., H) -> (..., V)


class TLMForMaskedLM(TLMPreTrainedModel):
    """TLM with the MLM head; `logits` are (batch, seq_len, vocab_size), as BERT's.

    `sparse_prediction` (an attribute, off by default; train_mlm.py switches it on, as Cramming does): with labels,
    only the positions whose label is not -100 (about 15% of tokens under BERT masking) go through the last layer's
    queries and feed-forward, the head and the vocabulary projection. The loss and its gradients are the dense ones,
    and `logits` hold just those positions, (num_masked, vocab_size) in row-major order of `labels`; metric code
    must then read them so (`modeling_tlm.training.mlm_logits_to_predictions`).
    """

    _tied_weights_keys = {"lm_head.decoder.weight": "tlm.embeddings.word_embeddings.weight"}
    sparse_prediction = False

    def __init__(self, config: TLMConfig):
        super().__init__(config)
        self.tlm = TLMModel(config)
        self.lm_head = TLMLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.lm_head.decoder = new_embeddings

    # Arguments spelled out, not shared: see TLMModel.forward.
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        num_items_in_batch=None,
    ):
        """`num_items_in_batch` (given by the Trainer): the number of predicted tokens over all the micro-batches
        of one optimizer step, so that gradient accumulation and several processes weigh every token equally."""
        sparse = self.sparse_prediction and labels is not None
        predicted = None if labels is None else labels != IGNORE_INDEX  # (B, T)
        outputs = self.tlm(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, output_attentions,
            output_hidden_states, return_dict=True, output_mask=predicted if sparse else None,
        )
        logits = self.lm_head(outputs.last_hidden_state)  # (B, T, V), or (N, V) sparse
        loss = None
        if labels is not None:
            targets = labels[predicted] if sparse else labels.reshape(-1)  # (N,) or (B*T,) with -100 ignored
            loss = _mean_loss(logits.reshape(-1, logits.shape[-1]).float(), targets, num_items_in_batch)
        output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                attentions=outputs.attentions)
        return output if _or_config(return_dict, self.config.return_dict) else output.to_tuple()


def _mean_loss(logits, targets, num_items_in_batch=None):
    """Cross-entropy averaged over the targets that are not -100, or summed and divided by `num_items_in_batch`."""
    if num_items_in_batch is None:
        return F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX)
    total = F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, reduction="sum")
    return total / torch.as_tensor(num_items_in_batch, device=total.device).to(total.dtype)


class TLMForSequenceClassification(TLMPreTrainedModel):
    """TLM with BERT's classification head: [CLS] -> pooler (dense + tanh) -> dropout -> linear.

    The loss follows `config.problem_type` as transformers' models do: regression (MSE) for one label,
    single-label (cross-entropy) for integer labels, multi-label (BCE with logits) otherwise.
    """

    def __init__(self, config: TLMConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.tlm = TLMModel(config)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    # Arguments spelled out, not shared: see TLMModel.forward.
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        num_items_in_batch=None,
    ):
        """`num_items_in_batch` (given by the Trainer): labelled examples over all the micro-batches of one optimizer
        step; single-label losses are then summed and divided by it (exact gradient accumulation)."""
        # The classifier reads only [CLS], so the last layer computes its queries and the rest of the block there
        # alone (every position still gives keys and values): the same logits and gradients as the dense forward.
        outputs = self.tlm(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, output_attentions,
            output_hidden_states, return_dict=True, first_only=True,
        )
        pooled = torch.tanh(self.pooler(outputs.last_hidden_state))  # (B, H) at [CLS]
        logits = self.classifier(self.dropout(pooled))  # (B, num_labels)
        loss = None if labels is None else self._loss(logits, labels, num_items_in_batch)
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                          attentions=outputs.attentions)
        return output if _or_config(return_dict, self.config.return_dict) else output.to_tuple()

    def _loss(self, logits, labels, num_items_in_batch=None):
        if self.config.problem_type is None:
            if self.num_labels == 1:
                self.config.problem_type = "regression"
            elif labels.dtype in (torch.long, torch.int):
                self.config.problem_type = "single_label_classification"
            else:
                self.config.problem_type = "multi_label_classification"
        logits = logits.float()
        if self.config.problem_type == "regression":
            return F.mse_loss(logits.squeeze(-1), labels.float().view(-1)) if self.num_labels == 1 else F.mse_loss(logits, labels.float())
        if self.config.problem_type == "single_label_classification":
            return _mean_loss(logits.view(-1, self.num_labels), labels.view(-1), num_items_in_batch)
        return F.binary_cross_entropy_with_logits(logits, labels.float())


__all__ = ["TLMPreTrainedModel", "TLMModel", "TLMForMaskedLM", "TLMForSequenceClassification"]
