"""The model card (modeling_tlm/training/card.py): its metadata is what huggingface_hub builds and parses back."""

import subprocess
import sys
from pathlib import Path

from huggingface_hub import ModelCard

from modeling_tlm import TLMForMaskedLM, TLMForSequenceClassification
from modeling_tlm.training.card import render_model_card
from tests.test_modeling_tlm import tiny_config

ROOT = Path(__file__).resolve().parents[1]


def _card(model, metrics, **kwargs):
    return render_model_card(model=model, title="tiny-ag", summary="Fine-tuned.", data={"task": "ag_news"},
                             training={"steps": 10}, command="python train_cls.py", arguments={}, metrics=metrics,
                             **kwargs)


def test_card_metadata_parses_with_a_model_index():
    model = TLMForSequenceClassification(tiny_config(num_labels=4))
    text = _card(model, {"test_accuracy": 0.84, "test_macro_f1": 0.83, "eval_loss": 0.5},
                 datasets=["fancyzhx/ag_news"], eval_dataset={"type": "fancyzhx/ag_news", "name": "ag_news"},
                 base_model="someone/tiny-mlm")
    card = ModelCard(text)  # huggingface_hub's own parser of the YAML front matter
    data = card.data
    assert (data.license, data.language, data.library_name, data.pipeline_tag) == \
        ("apache-2.0", "en", "transformers", "text-classification")
    assert data.datasets == ["fancyzhx/ag_news"] and data.base_model == "someone/tiny-mlm"
    results = {(r.metric_type, r.dataset_split): r.metric_value for r in data.eval_results}
    assert results == {("accuracy", "test"): 0.84, ("macro_f1", "test"): 0.83, ("loss", "validation"): 0.5}
    assert all(r.dataset_type == "fancyzhx/ag_news" and r.task_type == "text-classification" for r in data.eval_results)
    assert 'from_pretrained("path/to/this/folder", trust_remote_code=True)' in text
    assert "pip install modeling-tlm" not in text and 'pip install "transformers>=5.0" torch' in text


def test_local_base_model_and_reference_metrics_stay_out_of_the_metadata(tmp_path):
    model = TLMForMaskedLM(tiny_config())
    text = _card(model, {"eval_loss": 4.4, "eval_unigram_cross_entropy": 7.0}, base_model=str(tmp_path),
                 eval_dataset={"type": "wikimedia/wikipedia", "name": "Wikipedia, held-out sequences"})
    data = ModelCard(text).data
    assert data.base_model is None and data.pipeline_tag == "fill-mask"
    assert [(r.metric_type, r.metric_value) for r in data.eval_results] == [("loss", 4.4)]
    assert "eval_unigram_cross_entropy | 7" in text  # still in the card's table


def test_transformers_4_is_refused_with_a_message():
    """The config file (loaded first, also as remote code) names the version problem instead of an ImportError deep
    inside transformers. Run in a fresh interpreter that pretends to have transformers 4.57."""
    code = ("import transformers; transformers.__version__ = '4.57.1'; "
            "import modeling_tlm.configuration_tlm")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ImportError: TLM models need transformers>=5.0, found 4.57.1" in result.stderr
