"""Push through `Trainer` to a Hub-compatible server on localhost, then pull in fresh processes, with and without
the package importable, and compare outputs."""

import json
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import train_cls
from tests.isolation import run_without_package
from tests.training_utils import TINY, cls_args, one_thread  # noqa: F401 (fixture)

REPO = "test-user/tiny-agnews"
PULL = """
import json, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
model = AutoModelForSequenceClassification.from_pretrained("{repo}"{remote}).eval()
tokenizer = AutoTokenizer.from_pretrained("{repo}"{remote})
with torch.no_grad():
    logits = model(**tokenizer(["Stocks rally as oil prices fall."], return_tensors="pt")).logits
print(json.dumps({{"class": type(model).__module__ + "." + type(model).__name__, "logits": logits.tolist()}}))
"""


def _pulled(result) -> dict:
    lines = result.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("{"), result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(lines[-1])


@pytest.mark.slow
def test_push_then_pull_with_and_without_the_package(tmp_path, data_dir, local_hub, monkeypatch, capfd, one_thread):
    local_hub.activate(monkeypatch)
    out = tmp_path / "cls"
    train_cls.main(cls_args(data_dir, out, "--from_scratch", "--model_preset", "tiny", "--config_overrides", TINY,
                            "--num_train_epochs", "1", "--push_to_hub", "--hub_model_id", REPO,
                            "--hub_token", local_hub.token))

    repo = local_hub.root / "mirrors" / "models" / REPO
    files = {p.name for p in repo.iterdir()}
    assert {"config.json", "model.safetensors", "configuration_tlm.py", "modeling_tlm.py", "tokenizer.json",
            "README.md", "results.json"} <= files
    # Commits: the repo's creation, the checkpoint pushed during training (hub_strategy every_save), the end.
    log = subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert len(log.splitlines()) >= 3 and "End of training" in log
    card = (repo / "README.md").read_text()
    assert "## Architecture" in card and f'model = AutoModelForSequenceClassification.from_pretrained("{REPO}", ' \
        "trust_remote_code=True)" in card
    # The token is nowhere: not in the pushed files (training_args.bin included), the output folder, or the logs.
    secret = local_hub.token.encode()
    for path in [*repo.rglob("*"), *out.rglob("*")]:
        if path.is_file() and ".git" not in path.parts:
            assert secret not in path.read_bytes(), path
    logs = capfd.readouterr()
    assert local_hub.token not in logs.out + logs.err

    local = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    with torch.no_grad():
        expected = local(**tokenizer(["Stocks rally as oil prices fall."], return_tensors="pt")).logits

    # A machine without modeling_tlm: the code saved in the repo is used (the helper asserts the import fails).
    remote = _pulled(run_without_package(PULL.format(repo=REPO, remote=", trust_remote_code=True"),
                                         env=local_hub.env()))
    assert remote["class"].startswith("transformers_modules.") and remote["class"].endswith("TLMForSequenceClassification")
    # Where modeling_tlm is imported, plain from_pretrained finds the registered classes.
    result = subprocess.run([sys.executable, "-c", "import modeling_tlm\n" + PULL.format(repo=REPO, remote="")],
                            env=local_hub.env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    native = _pulled(result)
    assert native["class"] == "modeling_tlm.modeling_tlm.TLMForSequenceClassification"
    for pulled in (remote, native):
        assert torch.allclose(torch.tensor(pulled["logits"]), expected, atol=1e-5)
