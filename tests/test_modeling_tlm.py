"""Tests of modeling_tlm/modeling_tlm.py and configuration_tlm.py on tiny configs."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

from modeling_tlm import PRESETS, TLMConfig, TLMForMaskedLM, TLMForSequenceClassification, TLMModel

VOCAB = 120


def tiny_config(**overrides) -> TLMConfig:
    fields = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=24,
                  cls_token_id=1, sep_token_id=2, mask_token_id=3)
    fields.update(overrides)
    return TLMConfig(**fields)


def padded_batch(batch=3, seq_len=20, seed=0):
    """Random ids with padding: row 1 has 8 real tokens, row 2 has 5."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (batch, seq_len), generator=g)
    mask = torch.ones(batch, seq_len, dtype=torch.long)
    mask[1, 8:] = 0
    mask[2, 5:] = 0
    ids[mask == 0] = 0
    return ids, mask


CONV_FORMS = [
    dict(),
    dict(num_conv_layers=2, conv_kernel_size=3, conv_channels=4),
    dict(num_conv_layers=2, conv_kernel_size=(16, 3), conv_channels=4),
    dict(num_conv_layers=3, conv_kernel_size=[3, (5, 1), 1], conv_channels=2),
]


@pytest.mark.parametrize("conv", CONV_FORMS, ids=["no-conv", "k3", "k16x3", "per-layer"])
def test_shapes_of_every_head(conv):
    config = tiny_config(num_labels=5, **conv)
    ids, mask = padded_batch()
    torch.manual_seed(0)
    assert TLMModel(config)(ids, mask).last_hidden_state.shape == (3, 20, 32)
    mlm = TLMForMaskedLM(config)
    assert mlm(ids, mask).logits.shape == (3, 20, VOCAB)
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[1, 4], labels[2, 1] = 7, 8, 9
    out = mlm(ids, mask, labels=labels)
    assert out.logits.shape == (3, 20, VOCAB) and out.loss.ndim == 0  # BERT's shape, labels or not
    mlm.sparse_prediction = True
    assert mlm(ids, mask, labels=labels).logits.shape == (3, VOCAB)  # one row per labelled position
    assert TLMForSequenceClassification(config)(ids, mask).logits.shape == (3, 5)
    if conv:
        n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in mlm.modules())
        assert n_convs == config.num_conv_layers + 1  # the stack plus the 1x1 projection back to one channel


def test_kernel_forms_normalise():
    assert tiny_config(num_conv_layers=2, conv_kernel_size=3).conv_kernel_sizes == [(3, 3), (3, 3)]
    assert tiny_config(num_conv_layers=2, conv_kernel_size=(16, 3)).conv_kernel_sizes == [(16, 3), (16, 3)]
    assert tiny_config(num_conv_layers=3, conv_kernel_size=[3, (5, 1), 1]).conv_kernel_sizes == [(3, 3), (5, 1), (1, 1)]


@pytest.mark.parametrize(
    "fields, field_named",
    [
        (dict(hidden_size=30, num_attention_heads=4), "hidden_size"),
        (dict(num_conv_layers=3, conv_kernel_size=[3, 3, 3, 3]), "conv_kernel_size"),
        (dict(num_conv_layers=-1), "num_conv_layers"),
        (dict(num_hidden_layers=-2), "num_hidden_layers"),
        (dict(num_conv_layers=1, conv_kernel_size=0), "conv_kernel_size"),
        (dict(mask_token_id=500), "mask_token_id"),
        (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob"),
    ],
)
def test_config_validation_names_the_field(fields, field_named):
    with pytest.raises(ValueError, match=field_named):
        tiny_config(**fields)


def test_presets_match_the_paper():
    for name in PRESETS:
        config = TLMConfig.from_preset(name)
        assert config.hidden_size == 64 * config.num_attention_heads  # head size 64
        assert config.intermediate_size == 4 * config.hidden_size and config.max_position_embeddings == 128
    bert6 = TLMConfig.from_preset("bert-6")
    assert (bert6.num_hidden_layers, bert6.hidden_size, bert6.num_attention_heads, bert6.intermediate_size) == (6, 768, 12, 3072)
    k16 = TLMConfig.from_preset("bert-1-conv2-k16x3-d64")
    assert k16.conv_kernel_sizes == [(16, 3), (16, 3)] and k16.conv_channels == 64
    assert TLMConfig.from_preset("bert-1-conv2-k3-d64-h8", vocab_size=8000).vocab_size == 8000
    with pytest.raises(ValueError, match="Unknown TLM preset"):
        TLMConfig.from_preset("bert-7")


@pytest.mark.parametrize("form", [dict(), dict(pre_norm=True), dict(alibi=True)], ids=["post-LN", "pre-LN", "alibi"])
def test_sparse_mlm_prediction_equals_dense_loss_and_gradients(form):
    """Projecting only the masked positions gives BERT's dense loss and the same gradients (fp32, 1e-5)."""
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **form)
    torch.manual_seed(0)
    model = TLMForMaskedLM(config)
    ids, mask = padded_batch()
    labels = torch.full_like(ids, -100)
    labels[0, [1, 5, 9]] = torch.tensor([10, 11, 12])
    labels[1, 3], labels[2, 0] = 13, 14

    assert model(ids, mask, labels=labels).logits.shape == (3, ids.shape[1], VOCAB)  # BERT-shaped by default
    model.sparse_prediction = True
    assert model(ids, mask, labels=labels).logits.shape == (5, VOCAB)
    sparse = model(ids, mask, labels=labels).loss
    sparse_grads = torch.autograd.grad(sparse, list(model.parameters()))
    dense_logits = model(ids, mask).logits  # (B, T, V)
    dense = torch.nn.functional.cross_entropy(dense_logits.view(-1, VOCAB), labels.view(-1), ignore_index=-100)
    dense_grads = torch.autograd.grad(dense, list(model.parameters()))
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)
    for s, d in zip(sparse_grads, dense_grads):
        torch.testing.assert_close(s, d, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("conv", [*CONV_FORMS[:2], dict(pre_norm=True), dict(alibi=True)],
                         ids=["no-conv", "k3", "pre-LN", "alibi"])
def test_cls_only_classifier_equals_dense_logits_loss_and_gradients(conv):
    """The classifier's last layer computed at [CLS] alone gives the dense forward's logits, loss and gradients
    (the dense path is the one taken when every hidden state is asked for); fp32, padded batch, 1e-5."""
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3, **conv)
    torch.manual_seed(0)
    model = TLMForSequenceClassification(config)
    ids, mask = padded_batch()
    labels = torch.tensor([0, 2, 1])
    fast = model(ids, mask, labels=labels)
    dense = model(ids, mask, labels=labels, output_hidden_states=True)
    assert fast.logits.shape == (3, 3) and fast.hidden_states is None and len(dense.hidden_states) == 3
    torch.testing.assert_close(fast.logits, dense.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast.loss, dense.loss, atol=1e-5, rtol=1e-5)
    fast_grads = torch.autograd.grad(fast.loss, list(model.parameters()), allow_unused=True)
    dense_grads = torch.autograd.grad(dense.loss, list(model.parameters()), allow_unused=True)
    for (name, _), f, d in zip(model.named_parameters(), fast_grads, dense_grads):
        torch.testing.assert_close(f, d, atol=1e-5, rtol=1e-5, msg=name)


def test_pre_norm_equals_transformers_roberta_prelayernorm():
    """`pre_norm=True` is transformers' pre-LN encoder (RobertaPreLayerNorm: LayerNorm at the input of each
    attention and feed-forward branch, one after the last layer) with the same weights: padded batch, fp32, 1e-5.
    Roberta numbers positions from padding_idx + 1, so both get the same explicit position ids."""
    from transformers import RobertaPreLayerNormConfig, RobertaPreLayerNormModel

    config = tiny_config(pre_norm=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    ours = TLMModel(config).eval()
    for parameter in ours.parameters():  # LayerNorms away from their (1, 0) init, so a misplaced one shows
        torch.nn.init.normal_(parameter, std=0.3)
    reference = RobertaPreLayerNormModel(RobertaPreLayerNormConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        max_position_embeddings=24, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12,
    ), add_pooling_layer=False).eval()
    state = ours.state_dict()
    mapped = {f"embeddings.{k}": state[f"embeddings.{k}"] for k in (
        "word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight", "LayerNorm.weight",
        "LayerNorm.bias")}
    names = {"attention_norm": "attention.LayerNorm", "attention_output": "attention.output.dense",
             "output_norm": "intermediate.LayerNorm", "intermediate": "intermediate.dense", "output": "output.dense"}
    for i in range(config.num_hidden_layers):
        for suffix in ("weight", "bias"):
            for theirs, part in zip(("query", "key", "value"), state[f"layers.{i}.qkv.{suffix}"].chunk(3)):
                mapped[f"encoder.layer.{i}.attention.self.{theirs}.{suffix}"] = part
            for ours_name, theirs in names.items():
                mapped[f"encoder.layer.{i}.{theirs}.{suffix}"] = state[f"layers.{i}.{ours_name}.{suffix}"]
    for suffix in ("weight", "bias"):
        mapped[f"LayerNorm.{suffix}"] = state[f"final_norm.{suffix}"]
    assert set(mapped) == set(reference.state_dict())  # every reference weight is set, none twice
    reference.load_state_dict(mapped)
    ids, mask = padded_batch()
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    got = ours(ids, mask, position_ids=positions).last_hidden_state
    want = reference(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(got[real], want[real], atol=1e-5, rtol=1e-5)


def test_alibi_adds_the_distance_penalty_to_every_score():
    """With Q and K weights zeroed, every score is ALiBi's bias alone: head h attends to key j from query i with
    softmax_j(-slope_h |i - j|) over the real tokens; eager and SDPA give the same outputs with padding."""
    from modeling_tlm.modeling_tlm import alibi_slopes

    config = tiny_config(alibi=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_attention_heads=4)
    torch.manual_seed(0)
    model = TLMModel(config).eval()
    hidden = config.hidden_size
    with torch.no_grad():
        for layer in model.layers:
            layer.qkv.weight[: 2 * hidden] = 0
            layer.qkv.bias[: 2 * hidden] = 0
    ids, mask = padded_batch()
    probs = model(ids, mask, output_attentions=True).attentions[0]  # (B, heads, T, T)
    assert torch.allclose(alibi_slopes(4), torch.tensor([2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8]))
    real = 5  # row 2 has 5 real tokens
    distance = (torch.arange(real)[:, None] - torch.arange(real)).abs()
    want = torch.softmax(-alibi_slopes(4)[:, None, None] * distance, -1)  # (heads, 5, 5)
    torch.testing.assert_close(probs[2, :, :real, :real], want, atol=1e-6, rtol=1e-5)
    assert probs[2, :, :, real:].max() == 0  # padding keys get nothing
    sdpa = model(ids, mask).last_hidden_state
    model.config._attn_implementation = "eager"
    torch.testing.assert_close(model(ids, mask).last_hidden_state, sdpa, atol=1e-5, rtol=1e-5)


def test_pre_norm_and_alibi_are_not_bert():
    from modeling_tlm.conversion import tlm_config_to_bert

    with pytest.raises(ValueError, match="pre_norm=True"):
        tlm_config_to_bert(tiny_config(pre_norm=True))
    with pytest.raises(ValueError, match="alibi=True"):
        tlm_config_to_bert(tiny_config(alibi=True))
    with pytest.raises(ValueError, match="TLMConfig.pre_norm"):
        tiny_config(pre_norm="yes")


def test_padding_does_not_change_real_tokens():
    config = tiny_config()
    model = TLMModel(config).eval()
    ids, mask = padded_batch()
    full = model(ids, mask).last_hidden_state
    alone = model(ids[2:3, :5], mask[2:3, :5]).last_hidden_state
    torch.testing.assert_close(full[2, :5], alone[0], atol=1e-5, rtol=1e-5)


def test_too_long_input_is_a_clear_error():
    with pytest.raises(ValueError, match="max_position_embeddings=24"):
        TLMModel(tiny_config())(torch.ones(1, 30, dtype=torch.long))


def test_one_batch_overfits():
    config = tiny_config(num_conv_layers=1, conv_channels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    model = TLMForMaskedLM(config)
    ids, mask = padded_batch(batch=4, seq_len=16)
    labels = torch.where(torch.rand(ids.shape, generator=torch.Generator().manual_seed(1)) < 0.3, ids, -100)
    labels[mask == 0] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss = model(ids, mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.1:
            break
    assert loss.item() < 0.1


@pytest.mark.parametrize("conv", [dict(), dict(num_conv_layers=2, conv_kernel_size=(5, 3), conv_channels=3)])
def test_save_load_round_trip_is_identical(tmp_path, conv):
    config = tiny_config(**conv)
    model = TLMForMaskedLM(config)
    model.train()(padded_batch()[0])  # move BatchNorm statistics off their init, so that losing them would show
    model.eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is TLMForMaskedLM
    ids, mask = padded_batch()
    torch.testing.assert_close(loaded(ids, mask).logits, model(ids, mask).logits, atol=0, rtol=0)
    # Tied embeddings survive the reload: one tensor, not two equal copies.
    assert loaded.lm_head.decoder.weight.data_ptr() == loaded.tlm.embeddings.word_embeddings.weight.data_ptr()
    assert isinstance(AutoConfig.from_pretrained(tmp_path), TLMConfig)
    assert type(AutoModel.from_pretrained(tmp_path)) is TLMModel


def test_classifier_from_mlm_checkpoint_keeps_encoder(tmp_path):
    mlm = TLMForMaskedLM(tiny_config())
    mlm.save_pretrained(tmp_path)
    cls, info = AutoModelForSequenceClassification.from_pretrained(
        tmp_path, num_labels=4, id2label={i: f"c{i}" for i in range(4)}, label2id={f"c{i}": i for i in range(4)},
        output_loading_info=True,
    )
    assert set(info["missing_keys"]) == {"pooler.weight", "pooler.bias", "classifier.weight", "classifier.bias"}
    assert all(key.startswith("lm_head.") for key in info["unexpected_keys"])
    for (name, ours), theirs in zip(cls.tlm.state_dict().items(), mlm.tlm.state_dict().values()):
        assert torch.equal(ours, theirs), name
    assert cls.config.id2label[3] == "c3"


def test_config_that_disagrees_with_weights_is_an_error(tmp_path):
    TLMForMaskedLM(tiny_config()).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="conv"):  # conv weights the checkpoint never had
        TLMForMaskedLM.from_pretrained(tmp_path, num_conv_layers=2)
    with pytest.raises(Exception, match="size"):  # a vocabulary of another size
        TLMForMaskedLM.from_pretrained(tmp_path, vocab_size=VOCAB + 10)


@pytest.mark.parametrize("problem_type, labels", [
    ("single_label_classification", torch.tensor([0, 2, 1])),
    ("multi_label_classification", torch.tensor([[1.0, 0, 1], [0, 1, 0], [0, 0, 0]])),
    ("regression", torch.tensor([[0.5, 1.0, -1.0], [0, 0, 0], [1, 1, 1]])),
])
def test_classification_losses_follow_problem_type(problem_type, labels):
    model = TLMForSequenceClassification(tiny_config(num_labels=3, problem_type=problem_type))
    out = model(*padded_batch(), labels=labels)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()


def test_regression_with_one_label_infers_problem_type():
    model = TLMForSequenceClassification(tiny_config(num_labels=1))
    assert model(*padded_batch(), labels=torch.tensor([0.1, 0.2, 0.3])).loss.ndim == 0
    assert model.config.problem_type == "regression"
