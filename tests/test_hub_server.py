"""The local Hub-compatible test server (tests/hub_server.py): push with huggingface_hub / transformers, pull in a
fresh process, compare. A tiny stock BertForMaskedLM keeps it fast; the TLM tests reuse the same fixture."""
import pytest
import torch
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

transformers = pytest.importorskip("transformers")
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, Trainer, TrainingArguments  # noqa: E402

INPUT_IDS = torch.arange(16).reshape(2, 8) * 7 % 100  # fixed inputs inside the tiny vocabulary

# Runs in the subprocess: load REPO from the hub, save its logits on INPUT_IDS (and extras) to OUT.
PULL = """
import torch
from transformers import AutoModelForMaskedLM
model = AutoModelForMaskedLM.from_pretrained({repo!r}).eval()
with torch.no_grad():
    result = {{"logits": model(input_ids=torch.arange(16).reshape(2, 8) * 7 % 100).logits}}
{extra}
torch.save(result, {out!r})
"""


def tiny_bert() -> BertForMaskedLM:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=32)
    return BertForMaskedLM(config).eval()


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(input_ids=INPUT_IDS).logits


def test_push_to_hub_then_from_pretrained_in_fresh_process(local_hub, monkeypatch, tmp_path, bert_tokenizer_dir):
    local_hub.activate(monkeypatch)
    repo = "test-user/tiny-bert"
    model, tokenizer = tiny_bert(), AutoTokenizer.from_pretrained(bert_tokenizer_dir)
    model.push_to_hub(repo, token=local_hub.token)
    tokenizer.push_to_hub(repo, token=local_hub.token)
    # .py files must travel too (trust_remote_code repos ship their modeling code).
    code = b"# remote code\nVALUE = 42\n"
    api = HfApi(endpoint=local_hub.endpoint, token=local_hub.token)
    api.upload_file(path_or_fileobj=code, path_in_repo="custom_code.py", repo_id=repo)
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json", "custom_code.py"} <= set(
        api.list_repo_files(repo))

    out = tmp_path / "pulled.pt"
    extra = f"""
from huggingface_hub import hf_hub_download
from transformers import AutoTokenizer
result["ids"] = AutoTokenizer.from_pretrained({repo!r})("Hello, world!")["input_ids"]
result["code"] = open(hf_hub_download({repo!r}, "custom_code.py"), "rb").read()
"""
    local_hub.run_python(PULL.format(repo=repo, out=str(out), extra=extra), cwd=tmp_path, without_package=True)
    pulled = torch.load(out)
    torch.testing.assert_close(pulled["logits"], logits(model))
    assert pulled["ids"] == tokenizer("Hello, world!")["input_ids"]
    assert pulled["code"] == code

    # A later commit replaces files and deletes others; a missing file is EntryNotFound, not "no such repo".
    api.delete_file("custom_code.py", repo_id=repo)
    assert not api.file_exists(repo, "custom_code.py") and api.file_exists(repo, "config.json")


def test_trainer_push_to_hub_then_load(local_hub, monkeypatch, tmp_path, bert_tokenizer_dir):
    local_hub.activate(monkeypatch)
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), push_to_hub=True, hub_model_id="trained-bert", hub_token=local_hub.token,
        max_steps=2, per_device_train_batch_size=4, learning_rate=1e-2, save_strategy="no", report_to="none",
        use_cpu=True, disable_tqdm=True,
    )
    torch.manual_seed(1)
    ids = torch.randint(0, 100, (8, 8))
    dataset = [{"input_ids": row, "labels": row} for row in ids]
    model = tiny_bert()
    before = logits(model)
    trainer = Trainer(model=model, args=args, train_dataset=dataset,
                      processing_class=AutoTokenizer.from_pretrained(bert_tokenizer_dir))
    assert trainer.hub_model_id == "test-user/trained-bert"  # the repo was created under the token's user
    trainer.train()
    trainer.push_to_hub()
    trained = logits(trainer.model)
    assert not torch.allclose(trained, before)  # so the comparison below shows the trained weights arrived

    out = tmp_path / "pulled.pt"
    local_hub.run_python(PULL.format(repo="test-user/trained-bert", out=str(out), extra=""), cwd=tmp_path)
    torch.testing.assert_close(torch.load(out)["logits"], trained)
    # The model card is there and holds no token. (training_args.bin, a pickle of TrainingArguments, does hold
    # hub_token: stock Trainer.push_to_hub uploads it; code that must not leak tokens has to handle that.)
    card = HfApi(endpoint=local_hub.endpoint).hf_hub_download("test-user/trained-bert", "README.md")
    assert local_hub.token not in open(card, encoding="utf-8").read()


def test_wrong_or_missing_token_is_refused(local_hub, monkeypatch, tmp_path):
    local_hub.activate(monkeypatch)
    with pytest.raises(HfHubHTTPError, match="Invalid user token"):
        HfApi(endpoint=local_hub.endpoint, token="hf_wrong").whoami()
    with pytest.raises(HfHubHTTPError, match="401"):
        HfApi(endpoint=local_hub.endpoint, token=False).create_repo("test-user/no-token")
    # Trainer(push_to_hub=True) creates the repo in __init__: a bad token fails there, before any training.
    args = TrainingArguments(output_dir=str(tmp_path), push_to_hub=True, hub_model_id="refused", hub_token="hf_wrong",
                             report_to="none", use_cpu=True)
    with pytest.raises(HfHubHTTPError, match="401"):
        Trainer(model=tiny_bert(), args=args)
    assert not (local_hub.root / "mirrors" / "models" / "test-user" / "refused").exists()
