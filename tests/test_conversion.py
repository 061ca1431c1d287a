"""Reference check (as litgpt does against Hugging Face models): a conv-free TLM computes exactly what
transformers' BERT computes with the same weights, converting both ways, on random inputs with padding."""

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel

from modeling_tlm import TLMConfig, TLMForMaskedLM, TLMForSequenceClassification, TLMModel
from modeling_tlm.conversion import bert_to_tlm, tlm_to_bert

from .test_modeling_tlm import VOCAB, padded_batch, tiny_config

PAIRS = [(TLMModel, BertModel), (TLMForMaskedLM, BertForMaskedLM), (TLMForSequenceClassification, BertForSequenceClassification)]


def real_positions(output, mask):
    """Outputs at real tokens only: BERT and TLM agree there; padded rows carry no meaning in either."""
    return output[mask.bool()] if output.dim() == 3 else output


@pytest.mark.parametrize("tlm_class, bert_class", PAIRS, ids=lambda c: c.__name__)
def test_tlm_to_bert_gives_the_same_outputs(tlm_class, bert_class):
    torch.manual_seed(0)
    tlm = tlm_class(tiny_config(num_labels=3)).eval()
    bert = tlm_to_bert(tlm).eval()
    assert type(bert) is bert_class
    ids, mask = padded_batch()
    types = torch.randint(0, 2, ids.shape)
    ours, theirs = tlm(ids, mask, types)[0], bert(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]
    torch.testing.assert_close(real_positions(ours, mask), real_positions(theirs, mask), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("tlm_class, bert_class", PAIRS, ids=lambda c: c.__name__)
def test_bert_to_tlm_gives_the_same_outputs(tlm_class, bert_class):
    torch.manual_seed(1)
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=24, num_labels=4)
    bert = bert_class(config).eval()
    tlm = bert_to_tlm(bert).eval()
    assert type(tlm) is tlm_class and isinstance(tlm.config, TLMConfig)
    ids, mask = padded_batch()
    ours, theirs = tlm(ids, mask)[0], bert(input_ids=ids, attention_mask=mask)[0]
    torch.testing.assert_close(real_positions(ours, mask), real_positions(theirs, mask), atol=1e-5, rtol=1e-5)


def test_mlm_loss_matches_bert_with_labels():
    torch.manual_seed(2)
    tlm = TLMForMaskedLM(tiny_config()).eval()
    bert = tlm_to_bert(tlm).eval()
    ids, mask = padded_batch()
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 2], labels[2, 4] = 5, 6, 7
    torch.testing.assert_close(tlm(ids, mask, labels=labels).loss, bert(input_ids=ids, attention_mask=mask, labels=labels).loss,
                               atol=1e-5, rtol=1e-5)


def test_conv_models_are_not_bert():
    with pytest.raises(ValueError, match="num_conv_layers=2"):
        tlm_to_bert(TLMForMaskedLM(tiny_config(num_conv_layers=2, conv_channels=2)))
