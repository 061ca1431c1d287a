"""Checkpoints carry their code: `trust_remote_code=True` loads them where `modeling_tlm` is not installed."""

import json

import pytest
import torch
from transformers import pipeline

from modeling_tlm import TLMForMaskedLM, TLMForSequenceClassification

from .isolation import run_without_package
from .test_modeling_tlm import padded_batch, tiny_config

LOAD_AND_RUN = """
import json, torch
from transformers import {auto_class}
model = {auto_class}.from_pretrained({path!r}, trust_remote_code=True).eval()
assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
ids, mask = torch.tensor({ids}), torch.tensor({mask})
print(json.dumps(model(input_ids=ids, attention_mask=mask).logits.tolist()))
"""


@pytest.mark.parametrize("model_class, auto_class", [
    (TLMForMaskedLM, "AutoModelForMaskedLM"),
    (TLMForSequenceClassification, "AutoModelForSequenceClassification"),
])
def test_trust_remote_code_without_the_package(tmp_path, model_class, auto_class):
    config = tiny_config(num_conv_layers=2, conv_kernel_size=(5, 3), conv_channels=2, num_labels=3)
    model = model_class(config).eval()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"][auto_class] == f"modeling_tlm.{model_class.__name__}"
    assert saved["auto_map"]["AutoConfig"] == "configuration_tlm.TLMConfig"
    assert (tmp_path / "modeling_tlm.py").exists() and (tmp_path / "configuration_tlm.py").exists()

    ids, mask = padded_batch()
    code = LOAD_AND_RUN.format(auto_class=auto_class, path=str(tmp_path), ids=ids.tolist(), mask=mask.tolist())
    remote_logits = torch.tensor(json.loads(run_without_package(code).stdout.strip().splitlines()[-1]))
    torch.testing.assert_close(remote_logits, model(ids, mask).logits, atol=1e-6, rtol=1e-6)


def test_fill_mask_pipeline(bert_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bert_tokenizer_dir)
    model = TLMForMaskedLM(tiny_config(vocab_size=len(tokenizer), max_position_embeddings=128)).eval()
    predictions = pipeline("fill-mask", model=model, tokenizer=tokenizer, top_k=3)("Paris is the [MASK] of France.")
    assert len(predictions) == 3 and all("[MASK]" not in p["sequence"] for p in predictions)
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1


def test_text_classification_pipeline(bert_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bert_tokenizer_dir)
    labels = ["World", "Sports", "Business"]
    config = tiny_config(vocab_size=len(tokenizer), max_position_embeddings=128, num_labels=3,
                         id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    model = TLMForSequenceClassification(config).eval()
    out = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None)(["Stocks rallied on Friday."])[0]
    assert sorted(p["label"] for p in out) == sorted(labels)
    assert abs(sum(p["score"] for p in out) - 1) < 1e-5
