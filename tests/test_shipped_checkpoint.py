"""The checkpoint shipped in checkpoints/ (built by experiments/ship.py): a user loads it with the Auto classes and
`pipeline("fill-mask")`, fine-tunes it with train_cls.py, and its card says what the grid measured with it."""
import json

import numpy as np
import pytest
import torch

import train_cls
from tests.conftest import REPO_ROOT
from tests.training_utils import FAST, read_json

SHIPPED = REPO_ROOT / "checkpoints" / "tlm-cpu-budget-alibi-8k"
GRID, CELL = "tapt-runs", "pt-base-p1"  # what it was shipped from (results/<grid>/<cell>.json)
SENTENCES = [  # plain encyclopaedic English; none of it is from the pre-training corpus
    "The river flows north through the valley and reaches the sea near the old harbour town.",
    "She was born in a small village and later moved to the capital to study law at the university.",
    "The album was released in the spring and reached the top ten of the national chart.",
    "During the war the city was occupied by foreign troops and many of its buildings were destroyed.",
    "The species is found in tropical forests, where it feeds mainly on insects and small fruit.",
    "He served as a member of parliament for twelve years before he was appointed minister of finance.",
]


pytestmark = pytest.mark.skipif(
    not (SHIPPED / "model.safetensors").exists(),
    reason=f"{SHIPPED} not built (its 6 MB of weights are not committed): run the tapt-runs grid's pt-base-p1 cell, "
           "then `python -m experiments.ship --grid tapt-runs --cell pt-base-p1 --output_dir "
           "checkpoints/tlm-cpu-budget-alibi-8k`")


@pytest.fixture(scope="module")
def shipped():
    import modeling_tlm  # noqa: F401  (registers the "tlm" model type with the Auto classes)
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    return AutoModelForMaskedLM.from_pretrained(SHIPPED).eval(), AutoTokenizer.from_pretrained(SHIPPED)


def test_it_loads_with_the_auto_classes_and_fills_masks(shipped):
    from transformers import pipeline

    from modeling_tlm.data import check_tokenizer_matches_config

    model, tokenizer = shipped
    assert type(model).__name__ == "TLMForMaskedLM" and model.config.alibi
    check_tokenizer_matches_config(tokenizer, model.config)
    fill = pipeline("fill-mask", model=model, tokenizer=tokenizer)
    guesses = fill(f"The river flows into the {tokenizer.mask_token} near the city.")
    assert len(guesses) == 5 and all(g["token_str"].strip() for g in guesses)
    assert guesses[0]["score"] >= guesses[-1]["score"] > 0


def test_it_predicts_masked_words_far_better_than_an_untrained_model(shipped):
    """Masked-token cross-entropy on fixed sentences, every 5th word piece masked: an untrained model scores about
    ln(vocabulary) = 9 nats, a unigram guess about 7; the shipped model reached 4.1 on held-out Wikipedia."""
    from modeling_tlm import TLMForMaskedLM

    model, tokenizer = shipped
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    inputs = batch["input_ids"].clone()
    positions = torch.zeros_like(inputs, dtype=torch.bool)
    positions[:, 1::5] = True
    positions &= batch["attention_mask"].bool() & (inputs != tokenizer.sep_token_id)
    labels[positions], inputs[positions] = inputs[positions], tokenizer.mask_token_id
    with torch.no_grad():
        loss = model(input_ids=inputs, attention_mask=batch["attention_mask"], labels=labels).loss.item()
        torch.manual_seed(0)
        untrained = TLMForMaskedLM(model.config).eval()(input_ids=inputs, attention_mask=batch["attention_mask"],
                                                        labels=labels).loss.item()
    assert loss < 6.0 and untrained - loss > 3.0


def test_its_card_holds_the_results_the_grid_measured():
    from huggingface_hub import ModelCard

    card = ModelCard.load(SHIPPED / "README.md")
    assert card.data.pipeline_tag == "fill-mask"
    records = [json.loads(p.read_text()) for p in (REPO_ROOT / "results" / GRID).glob("ft-*.json")]
    mine = [r for r in records if r["deps"] == [CELL] and r["status"] == "done"]
    assert len(mine) >= 5
    by_setting = {}
    for r in mine:
        by_setting.setdefault(r["meta"]["task"], []).append(r["results"]["test_accuracy"])
    classification = {e.dataset_type: e.metric_value for e in card.data.eval_results
                      if e.task_type == "text-classification"}
    assert classification == {"fancyzhx/ag_news": pytest.approx(round(float(np.mean(by_setting["ag_news"])), 4))}
    pretraining = json.loads((REPO_ROOT / "results" / GRID / f"{CELL}.json").read_text())
    mlm = {e.metric_type: e.metric_value for e in card.data.eval_results if e.task_type == "fill-mask"}
    assert mlm["loss"] == pytest.approx(pretraining["results"]["eval"]["eval_loss"], abs=1e-3)


def test_it_fine_tunes_with_train_cls(tmp_path, data_dir):
    out = tmp_path / "ft"
    results = train_cls.main(["--model_name_or_path", str(SHIPPED), "--task_name", "ag_news", "--data_dir",
                              str(data_dir), "--output_dir", str(out), "--samples_per_label_train", "16",
                              "--samples_per_label_test", "16", "--num_train_epochs", "1", *FAST])
    assert read_json(out / "results.json")["data_sizes"] == {"train": 64, "validation": 8, "test": 64}
    assert 0.0 <= results["test_accuracy"] <= 1.0

    from transformers import AutoModelForSequenceClassification

    classifier = AutoModelForSequenceClassification.from_pretrained(out)
    shipped = {k: v for k, v in AutoModelForSequenceClassification.from_pretrained(SHIPPED, num_labels=4)
               .state_dict().items() if "classifier" not in k}
    moved = [k for k, v in classifier.state_dict().items() if k in shipped and not torch.equal(v, shipped[k])]
    assert moved, "fine-tuning changed none of the shipped encoder's weights"
