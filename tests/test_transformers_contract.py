"""TLM behaves as a transformers model does, checked against BERT where BERT has the same feature: attention
implementations and probabilities, gradient checkpointing, inputs_embeds, return_dict, BERT-shaped MLM logits (and
run_mlm.py-style metrics on them), exact gradient accumulation in the Trainer, and export / compile with padding."""

import pytest
import torch
from datasets import Dataset
from transformers import EvalPrediction, Trainer, TrainingArguments

from modeling_tlm import TLMForMaskedLM, TLMForSequenceClassification, TLMModel
from modeling_tlm.conversion import tlm_to_bert
from tests.test_modeling_tlm import VOCAB, padded_batch, tiny_config

HEADS = [TLMModel, TLMForMaskedLM, TLMForSequenceClassification]
NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _model(cls, seed=0, **overrides):
    torch.manual_seed(seed)
    return cls(tiny_config(num_labels=3, **NO_DROPOUT, **overrides)).eval()


def _main_output(out):
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out.logits


# ---------------------------------------------------------------------------------------------------- attention


@pytest.mark.parametrize("cls", HEADS, ids=lambda c: c.__name__)
def test_sdpa_is_declared_and_eager_computes_the_same(cls, tmp_path):
    _model(cls).save_pretrained(tmp_path)
    sdpa = cls.from_pretrained(tmp_path, attn_implementation="sdpa").eval()
    eager = cls.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert sdpa.config._attn_implementation == "sdpa" and eager.config._attn_implementation == "eager"
    assert cls.from_pretrained(tmp_path).config._attn_implementation == "sdpa"  # the default
    ids, mask = padded_batch()
    torch.testing.assert_close(_main_output(sdpa(ids, mask)), _main_output(eager(ids, mask)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cls", HEADS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_output_attentions_equal_berts(cls, implementation):
    """Per-layer probabilities (batch, heads, seq, seq), as BERT returns them (SDPA falls back to eager for them)."""
    model = _model(cls)
    model.set_attn_implementation(implementation)
    bert = tlm_to_bert(model).eval()
    bert.set_attn_implementation("eager")
    ids, mask = padded_batch()
    ours = model(ids, mask, output_attentions=True)
    theirs = bert(input_ids=ids, attention_mask=mask, output_attentions=True)
    assert len(ours.attentions) == 2 and ours.attentions[0].shape == (3, 2, 20, 20)
    for a, b in zip(ours.attentions, theirs.attentions):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(_main_output(ours), _main_output(theirs), atol=1e-5, rtol=1e-5)
    assert model(ids, mask).attentions is None


def test_unknown_forward_argument_is_an_error():
    with pytest.raises(TypeError, match="output_attention"):
        _model(TLMForSequenceClassification)(*padded_batch(), output_attention=True)  # a typo is not swallowed


# ---------------------------------------------------------------------------------------------------- training


@pytest.mark.parametrize("cls", [TLMForMaskedLM, TLMForSequenceClassification], ids=lambda c: c.__name__)
def test_gradient_checkpointing_gives_the_same_gradients(cls):
    ids, mask = padded_batch()
    labels = torch.tensor([0, 2, 1]) if cls is TLMForSequenceClassification else ids.masked_fill(mask == 0, -100)
    grads, forwards = [], []
    for checkpointing in (False, True):
        model = _model(cls, num_conv_layers=1, conv_channels=2).train()
        if checkpointing:
            model.activation_checkpointing_enable()  # gradient_checkpointing_enable() is its older name
            assert model.is_activation_checkpointing
        calls = []
        model.tlm.layers[0].intermediate.register_forward_pre_hook(lambda module, args: calls.append(1))  # inside
        loss = model(ids, mask, labels=labels).loss
        grads.append(torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad]))
        forwards.append(len(calls))
    assert forwards == [1, 2]  # checkpointed: the layer's forward ran again in the backward pass
    for plain, checkpointed in zip(*grads):
        torch.testing.assert_close(checkpointed, plain, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cls", HEADS, ids=lambda c: c.__name__)
def test_inputs_embeds_and_return_dict(cls):
    model = _model(cls)
    ids, mask = padded_batch()
    expected = _main_output(model(ids, mask))
    embeds = model.get_input_embeddings()(ids)  # (B, T, H): what PEFT prompt tuning or attribution methods pass
    torch.testing.assert_close(_main_output(model(inputs_embeds=embeds, attention_mask=mask)), expected)
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
        model(ids, mask, inputs_embeds=embeds)
    model.config.return_dict = False
    out = model(ids, mask)
    assert isinstance(out, tuple) and torch.equal(out[0], expected)
    bert = tlm_to_bert(model)
    bert.config.return_dict = False
    assert isinstance(bert(input_ids=ids, attention_mask=mask), tuple)  # what BERT does


def _mlm_dataset(n=16, seq_len=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (n, seq_len), generator=g)
    labels = torch.full_like(ids, -100)
    chosen = torch.rand(n, seq_len, generator=g) < torch.linspace(0.05, 0.6, n)[:, None]  # rows differ in count
    labels[chosen] = ids[chosen]
    ids[chosen] = 3  # [MASK]
    return Dataset.from_dict({"input_ids": ids.tolist(), "labels": labels.tolist()})


def _train_one_step(tmp_path, batch_size, accumulation, sparse):
    model = _model(TLMForMaskedLM)
    model.sparse_prediction = sparse
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=batch_size,
                             gradient_accumulation_steps=accumulation, max_steps=1, learning_rate=0.1, optim="sgd",
                             lr_scheduler_type="constant", report_to="none", save_strategy="no", use_cpu=True,
                             train_sampling_strategy="sequential", disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=_mlm_dataset()).train()
    return model


@pytest.mark.parametrize("sparse", [False, True])
def test_gradient_accumulation_weighs_every_masked_token_equally(tmp_path, sparse):
    """One step over 16 rows with different numbers of masked tokens: 2 x 8 accumulated equals 16 at once, because
    the loss is divided by the Trainer's num_items_in_batch (a mean per micro-batch would not be)."""
    whole = _train_one_step(tmp_path / "whole", 16, 1, sparse)
    accumulated = _train_one_step(tmp_path / "accumulated", 8, 2, sparse)
    for (name, a), b in zip(whole.named_parameters(), accumulated.parameters()):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-5, msg=name)


def test_run_mlm_style_metrics_on_a_tlm_checkpoint(tmp_path):
    """transformers' run_mlm.py computes accuracy from (batch, seq, vocab) logits over labels != -100; on a TLM
    checkpoint (sparse_prediction off, as loaded) that code runs unchanged."""
    _model(TLMForMaskedLM).save_pretrained(tmp_path / "ckpt")
    model = TLMForMaskedLM.from_pretrained(tmp_path / "ckpt")
    dataset = _mlm_dataset()

    def preprocess_logits_for_metrics(logits, labels):  # as in run_mlm.py
        if isinstance(logits, tuple):
            logits = logits[0]
        return logits.argmax(dim=-1)

    def compute_metrics(eval_preds: EvalPrediction):  # as in run_mlm.py, with numpy in place of evaluate
        preds, labels = eval_preds
        labels, preds = labels.reshape(-1), preds.reshape(-1)
        keep = labels != -100
        return {"accuracy": float((preds[keep] == labels[keep]).mean())}

    args = TrainingArguments(output_dir=str(tmp_path / "eval"), per_device_eval_batch_size=5, report_to="none",
                             use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, eval_dataset=dataset, compute_metrics=compute_metrics,
                      preprocess_logits_for_metrics=preprocess_logits_for_metrics)
    metrics = trainer.evaluate()
    ids, labels = torch.tensor(dataset["input_ids"]), torch.tensor(dataset["labels"])
    with torch.no_grad():
        predicted = model(ids).logits.argmax(-1)
    keep = labels != -100
    assert metrics["eval_accuracy"] == pytest.approx(float((predicted[keep] == labels[keep]).float().mean()))


# ---------------------------------------------------------------------------------------------------- export


def _mixed_lengths(seed=1):
    """Two batches of different lengths and paddings: the exported graph must not have baked in the first one."""
    return [padded_batch(batch=3, seq_len=20, seed=seed), padded_batch(batch=3, seq_len=20, seed=seed + 1)]


def _classifier():
    return _model(TLMForSequenceClassification, num_conv_layers=1, conv_channels=2)


def test_torch_export_with_padding():
    model = _classifier()
    ids, mask = padded_batch()
    exported = torch.export.export(model, (ids, mask), strict=False)
    for ids, mask in _mixed_lengths():
        torch.testing.assert_close(exported.module()(ids, mask).logits, model(ids, mask).logits, atol=1e-5, rtol=1e-5)


def test_compile_fullgraph_for_inference_and_a_training_step():
    model = _classifier()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")  # fullgraph: a graph break is an error
    for ids, mask in _mixed_lengths():
        torch.testing.assert_close(compiled(ids, mask).logits, model(ids, mask).logits, atol=1e-5, rtol=1e-5)
    model.train()
    ids, mask = padded_batch()
    labels = torch.tensor([0, 2, 1])
    expected = torch.autograd.grad(model(ids, mask, labels=labels).loss, list(model.parameters()))
    got = torch.autograd.grad(compiled(ids, mask, labels=labels).loss, list(model.parameters()))
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_torchscript_trace_on_an_unpadded_example_stays_right_on_padded_batches():
    """A trace records one path through the forward; with no branch on the mask's values it is the only path."""
    model = _classifier()
    expected = [model(ids, mask).logits for ids, mask in _mixed_lengths()]
    model.config.return_dict = False  # tuples, as tracing wants
    ids, _ = padded_batch()
    traced = torch.jit.trace(model, (ids, torch.ones_like(ids)))
    for (ids, mask), logits in zip(_mixed_lengths(), expected):
        torch.testing.assert_close(traced(ids, mask)[0], logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("what", ["classifier", "committee"])
def test_onnx_export_runs_in_onnx_runtime_with_padding(tmp_path, what):
    ort = pytest.importorskip("onnxruntime", reason="the export extra (pip install -e '.[export]') is not installed")
    pytest.importorskip("onnxscript", reason="the export extra (pip install -e '.[export]') is not installed")
    if what == "committee":
        from modeling_tlm import TLMCommitteeForSequenceClassification

        model = TLMCommitteeForSequenceClassification.from_members([_classifier(), _model(TLMForSequenceClassification, 1)])
    else:
        model = _classifier()
    model.eval()
    ids, mask = padded_batch()
    batch, seq = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("seq", min=2, max=24)
    path = tmp_path / f"{what}.onnx"
    torch.onnx.export(model, (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["logits"], dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for ids, mask in _mixed_lengths() + [padded_batch(batch=5, seq_len=11, seed=7)]:
        mask[0, 3:] = 0  # another padding pattern
        (logits,) = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
        with torch.no_grad():
            expected = model(ids, mask).logits
        torch.testing.assert_close(torch.from_numpy(logits), expected, atol=1e-4, rtol=1e-4)
