"""Tests of the soft committee (modeling_tlm/modeling_committee.py, configuration_committee.py) on tiny configs."""

import json
import math

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, pipeline

from modeling_tlm import (
    TLMCommitteeConfig,
    TLMCommitteeForSequenceClassification,
    TLMConfig,
    TLMForMaskedLM,
    TLMForSequenceClassification,
)
from modeling_tlm.committee import main as committee_main
from modeling_tlm.training.commands import run_cli
from modeling_tlm.modeling_committee import (
    combine_member_logits,
    fused_member_logits,
    member_stack,
    stack_member_weights,
)

from .isolation import run_without_package

LABELS = {0: "world", 1: "sports", 2: "business"}
WORDS = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "the", "game", "team", "won", "stock", "market", "rose", "new",
         "phone", ",", ".", "!"] + [chr(c) for c in range(97, 123)] + ["##" + chr(c) for c in range(97, 123)]
VOCAB = 80  # > len(WORDS): ids 0-3 are [PAD], [CLS], [SEP], [MASK] as in the configs below


def member_config(**overrides) -> TLMConfig:
    fields = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                  max_position_embeddings=24, cls_token_id=1, sep_token_id=2, mask_token_id=3,
                  id2label=dict(LABELS), label2id={v: k for k, v in LABELS.items()})
    fields.update(overrides)
    return TLMConfig(**fields)


CONV = dict(num_conv_layers=2, conv_kernel_size=(5, 3), conv_channels=3)


def make_member(seed, **overrides) -> TLMForSequenceClassification:
    torch.manual_seed(seed)
    model = TLMForSequenceClassification(member_config(**overrides))
    if model.tlm.conv is not None:  # move BatchNorm statistics off their init, so a fused path ignoring them shows
        model.train()(torch.randint(4, VOCAB, (4, 16)))
    return model.eval()


def padded_batch(batch=3, seq_len=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (batch, seq_len), generator=g)
    ids[:, 0] = 1  # [CLS]
    mask = torch.ones(batch, seq_len, dtype=torch.long)
    mask[1, 8:] = 0
    mask[2, 5:] = 0
    ids[mask == 0] = 0
    return ids, mask


def save_tokenizer(folder, words=WORDS, lowercase=True):
    """A tiny WordPiece tokenizer folder (AutoTokenizer reads vocab.txt + tokenizer_config.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": lowercase}))
    return AutoTokenizer.from_pretrained(folder)


def save_member(folder, model, **tokenizer_kwargs):
    model.save_pretrained(folder)
    save_tokenizer(folder, **tokenizer_kwargs)
    return str(folder)


# ---------------------------------------------------------------------------------------------------- fused inference


@pytest.mark.parametrize("arch", [dict(), CONV, dict(num_hidden_layers=2), dict(num_hidden_layers=2, pre_norm=True),
                                  dict(num_hidden_layers=2, alibi=True)],
                         ids=["bert-1", "conv", "two-layers", "pre-LN", "alibi"])
@pytest.mark.parametrize("cls_only", [True, False], ids=["cls-only", "all-positions"])
def test_fused_equals_sequential(arch, cls_only):
    committee = TLMCommitteeForSequenceClassification.from_members([make_member(s, **arch) for s in range(3)])
    committee.last_layer_cls_only = cls_only
    ids, mask = padded_batch()
    token_types = (torch.arange(20) >= 10).long().expand(3, 20)
    with torch.no_grad():
        for kwargs in (dict(attention_mask=mask), dict(attention_mask=mask, token_type_ids=token_types),
                       dict(position_ids=torch.arange(2, 22))):
            fused = committee(ids, output_member_logits=True, **kwargs)
            committee.fused_inference = False
            sequential = committee(ids, output_member_logits=True, **kwargs)
            committee.fused_inference = True
            torch.testing.assert_close(fused.member_logits, sequential.member_logits, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(fused.logits, sequential.logits, atol=1e-5, rtol=1e-5)
    assert len(committee._groups) == 1  # one architecture: one fused computation


def test_conv_per_member_equals_grouped():
    """The conv front ends as one grouped conv (the CPU default) or one conv per member (the GPU default)."""
    members = [make_member(s, **CONV) for s in range(3)]
    stacked = stack_member_weights(members)
    ids, mask = padded_batch()
    with torch.no_grad():
        grouped = fused_member_logits(member_stack(members, stacked, grouped_conv=True), ids, mask)
        per_member = fused_member_logits(member_stack(members, stacked, grouped_conv=False), ids, mask)
        torch.testing.assert_close(grouped, per_member, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(per_member[2], members[2](ids, mask).logits, atol=1e-5, rtol=1e-5)


def test_mixed_architectures_are_grouped_and_keep_member_order():
    members = [make_member(0), make_member(1, **CONV), make_member(2), make_member(3, hidden_size=64, num_attention_heads=4)]
    committee = TLMCommitteeForSequenceClassification.from_members(members)
    assert committee._groups == [[0, 2], [1], [3]]
    ids, mask = padded_batch()
    with torch.no_grad():
        fused = committee(ids, mask, output_member_logits=True).member_logits  # (B, N, C)
        for index, member in enumerate(members):
            torch.testing.assert_close(fused[:, index], member(ids, mask).logits, atol=1e-5, rtol=1e-5)


def test_stacked_weights_follow_in_place_updates():
    committee = TLMCommitteeForSequenceClassification.from_members([make_member(s) for s in range(2)])
    ids, mask = padded_batch()
    with torch.no_grad():
        before = committee(ids, mask).logits
        committee.members[1].classifier.bias.add_(torch.tensor([5.0, 0.0, 0.0]))  # in place: the cache must notice
        after = committee(ids, mask, output_member_logits=True)
        torch.testing.assert_close(after.member_logits[:, 1], committee.members[1](ids, mask).logits, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(before, after.logits)


def test_training_mode_gives_member_gradients():
    committee = TLMCommitteeForSequenceClassification.from_members([make_member(s) for s in range(2)]).train()
    ids, mask = padded_batch()
    committee(ids, mask, labels=torch.tensor([0, 1, 2])).loss.backward()
    for member in committee.members:
        assert member.classifier.weight.grad is not None and member.classifier.weight.grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------------ combining and loss


def test_combine_modes():
    member_logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                                  [[0.0, 3.0, 0.0], [0.0, 1.0, 0.0]],
                                  [[2.5, 0.0, 1.0], [0.0, 0.0, 4.0]]])  # (N=3, B=2, C=3)
    probs = member_logits.softmax(-1)
    soft = combine_member_logits(member_logits, "soft")
    torch.testing.assert_close(soft.exp(), probs.mean(0))  # log of the averaged probabilities
    torch.testing.assert_close(combine_member_logits(member_logits, "logits"), member_logits.mean(0))
    vote = combine_member_logits(member_logits, "vote").exp()
    torch.testing.assert_close(vote.sum(-1), torch.ones(2))  # a distribution
    assert vote[0].argmax() == 0  # two of three members vote class 0
    # Row 1: members vote 1, 1, 2; class 1 wins on votes although class 2 has the highest mean probability.
    assert vote[1].argmax() == 1 and probs[:, 1].mean(0).argmax() == 2
    tie = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 3.0, 0.0]]])  # one vote each: broken by the mean probabilities
    assert combine_member_logits(tie, "vote").argmax() == 1
    with pytest.raises(ValueError, match="combine mode"):
        combine_member_logits(member_logits, "max")


@pytest.mark.parametrize("combine", ["soft", "logits", "vote"])
def test_committee_output_and_loss(combine):
    members = [make_member(s) for s in range(3)]
    committee = TLMCommitteeForSequenceClassification.from_members(members, combine=combine)
    assert committee.config.combine == combine
    ids, mask = padded_batch()
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        out = committee(ids, mask, labels=labels, output_member_logits=True)
        member_logits = torch.stack([m(ids, mask).logits for m in members])  # (N, B, C)
    assert out.member_logits.shape == (3, 3, 3)  # (batch, members, labels)
    torch.testing.assert_close(out.logits, combine_member_logits(member_logits, combine), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))
    if combine != "logits":  # the loss is the negative log of the committee's probability of the true class
        expected = -torch.log(out.logits.exp()[torch.arange(3), labels]).mean()
        torch.testing.assert_close(out.loss, expected, atol=1e-5, rtol=1e-5)
    assert committee(ids, mask).member_logits is None  # only on request
    with pytest.raises(ValueError, match="integer class labels"):
        committee(ids, mask, labels=torch.zeros(3, 3))


def test_config_validation():
    with pytest.raises(ValueError, match="combine"):
        TLMCommitteeConfig(members=[member_config()], combine="max")
    with pytest.raises(ValueError, match=r"members\[1\].*id 1: 'games' vs 'sports'"):
        TLMCommitteeConfig(members=[member_config(), member_config(id2label={0: "world", 1: "games", 2: "business"})])
    with pytest.raises(ValueError, match=r"members\[1\].*vocab_size \(90 vs 80\)"):
        TLMCommitteeConfig(members=[member_config(), member_config(vocab_size=90)])
    with pytest.raises(ValueError, match="problem_type"):
        TLMCommitteeConfig(members=[member_config(problem_type="regression", num_labels=1)])
    with pytest.raises(ValueError, match="empty"):
        TLMCommitteeForSequenceClassification(TLMCommitteeConfig())


# --------------------------------------------------------------------------------------- building from checkpoints


def test_from_members_paths_and_mismatches(tmp_path):
    good = [save_member(tmp_path / f"m{i}", make_member(i)) for i in range(2)]
    committee = TLMCommitteeForSequenceClassification.from_members(good)
    assert committee.config.num_members == 2 and committee.config.id2label == LABELS
    torch.testing.assert_close(committee.members[1].classifier.weight, make_member(1).classifier.weight)

    other_labels = save_member(tmp_path / "labels", make_member(2, id2label={0: "world", 1: "games", 2: "business"}))
    with pytest.raises(ValueError, match=r"members\[2\] \(.*labels\).*id 1: 'games' vs 'sports'"):
        TLMCommitteeForSequenceClassification.from_members(good + [other_labels])
    other_vocab = save_member(tmp_path / "vocab", make_member(2, vocab_size=VOCAB + 8))
    with pytest.raises(ValueError, match=r"members\[2\] \(.*vocab\).*vocab_size \(88 vs 80\)"):
        TLMCommitteeForSequenceClassification.from_members(good + [other_vocab])
    other_special = save_member(tmp_path / "special", make_member(2, mask_token_id=4))
    with pytest.raises(ValueError, match=r"members\[2\] \(.*special\).*mask_token_id \(4 vs 3\)"):
        TLMCommitteeForSequenceClassification.from_members(good + [other_special])
    swapped = WORDS[:5] + ["game", "the"] + WORDS[7:]
    other_tokenizer = save_member(tmp_path / "tokenizer", make_member(2), words=swapped)
    with pytest.raises(ValueError, match=r"members\[2\] \(.*tokenizer\).*2 entries.*'game'"):
        TLMCommitteeForSequenceClassification.from_members(good + [other_tokenizer])
    cased = save_member(tmp_path / "cased", make_member(2), lowercase=False)
    with pytest.raises(ValueError, match=r"members\[2\] \(.*cased\).*tokenizes to"):
        TLMCommitteeForSequenceClassification.from_members(good + [cased])
    mlm = tmp_path / "mlm"
    TLMForMaskedLM(member_config()).save_pretrained(mlm)
    with pytest.raises(ValueError, match=r"mlm.*fine-tune it"):
        TLMCommitteeForSequenceClassification.from_members(good + [str(mlm)])
    with pytest.raises(TypeError, match=r"members\[0\] is a int"):
        TLMCommitteeForSequenceClassification.from_members([3])


def test_assemble_cli(tmp_path, capsys):
    members = [save_member(tmp_path / f"m{i}", make_member(i)) for i in range(2)]
    committee_main(["assemble", "--members", *members, "--output_dir", str(tmp_path / "committee"), "--combine", "vote"])
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "committee")
    assert isinstance(loaded, TLMCommitteeForSequenceClassification) and loaded.config.combine == "vote"
    assert AutoTokenizer.from_pretrained(tmp_path / "committee").get_vocab() == AutoTokenizer.from_pretrained(members[0]).get_vocab()
    TLMForMaskedLM(member_config()).save_pretrained(tmp_path / "mlm")
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: committee_main(["assemble", "--members", members[0], str(tmp_path / "mlm"), "--output_dir",
                                        str(tmp_path / "x")]))
    assert exit_info.value.code == 2 and "fine-tune it" in capsys.readouterr().err
    missing = str(tmp_path / "runs" / "member-3")  # a typo in a local path: named as a folder, not a Hub repo id
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: committee_main(["assemble", "--members", members[0], missing, "--output_dir", str(tmp_path / "y")]))
    assert exit_info.value.code == 2 and f"error: --members {missing}: no such folder" in capsys.readouterr().err


def test_one_evaluation_pass_gives_every_subset_committee(tmp_path):
    """member_logits_over (the evaluation pass of train_committee.py and experiments.committee) on a dataset of
    unpadded rows: each subset's combined member logits are that subset's own committee forward, for every mode."""
    from datasets import Dataset

    from modeling_tlm.committee import member_logits_over

    members = [make_member(s) for s in range(3)]
    ids, mask = padded_batch(batch=5, seed=1)
    rows = Dataset.from_dict({"input_ids": [r[m.bool()].tolist() for r, m in zip(ids, mask)],
                              "attention_mask": [m[m.bool()].tolist() for m in mask], "labels": [0, 1, 2, 1, 0]})
    tokenizer = save_tokenizer(tmp_path / "tok")
    logits, labels = member_logits_over(TLMCommitteeForSequenceClassification.from_members(members), rows, tokenizer,
                                        batch_size=2)
    assert logits.shape == (3, 5, 3) and labels.tolist() == [0, 1, 2, 1, 0]
    for subset in ([0], [0, 2], [0, 1, 2]):
        for mode in ("soft", "logits", "vote"):
            committee = TLMCommitteeForSequenceClassification.from_members([members[i] for i in subset], combine=mode)
            with torch.no_grad():
                own = torch.cat([committee(torch.tensor([r]), torch.tensor([m])).logits
                                 for r, m in zip(rows["input_ids"], rows["attention_mask"])])
            torch.testing.assert_close(combine_member_logits(logits[subset], mode), own, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------- one checkpoint: save, load, share


@pytest.fixture(scope="module")
def committee_dir(tmp_path_factory):
    """A saved committee of two BERT-1 members and a conv member, with its tokenizer."""
    folder = tmp_path_factory.mktemp("committee")
    committee = TLMCommitteeForSequenceClassification.from_members([make_member(0), make_member(1), make_member(2, **CONV)])
    committee.save_pretrained(folder)
    save_tokenizer(folder)
    return folder


def test_save_load_round_trip(committee_dir):
    config = json.loads((committee_dir / "config.json").read_text())
    assert config["model_type"] == "tlm-committee" and len(config["members"]) == 3
    assert config["auto_map"]["AutoModelForSequenceClassification"] == "modeling_committee.TLMCommitteeForSequenceClassification"
    for name in ("modeling_committee.py", "configuration_committee.py", "modeling_tlm.py", "configuration_tlm.py"):
        assert (committee_dir / name).exists(), name  # the code travels for trust_remote_code loading
    assert isinstance(AutoConfig.from_pretrained(committee_dir), TLMCommitteeConfig)
    loaded = AutoModelForSequenceClassification.from_pretrained(committee_dir).eval()
    assert type(loaded) is TLMCommitteeForSequenceClassification
    original = TLMCommitteeForSequenceClassification.from_members([make_member(0), make_member(1), make_member(2, **CONV)])
    ids, mask = padded_batch()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, mask).logits, original(ids, mask).logits, atol=0, rtol=0)
    trusted = AutoModelForSequenceClassification.from_pretrained(committee_dir, trust_remote_code=True)
    assert type(trusted) is TLMCommitteeForSequenceClassification  # the installed package wins over copied code


def test_checkpoint_missing_member_weights_is_an_error(committee_dir, tmp_path):
    config = TLMCommitteeConfig.from_pretrained(committee_dir)
    config.members.append(config.members[0])  # a fourth member the weights file does not have
    config.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").symlink_to(committee_dir / "model.safetensors")
    with pytest.raises(ValueError, match=r"lacks member weights: \['members\.3\."):
        TLMCommitteeForSequenceClassification.from_pretrained(tmp_path)


def test_pipeline(committee_dir):
    committee = AutoModelForSequenceClassification.from_pretrained(committee_dir)
    tokenizer = AutoTokenizer.from_pretrained(committee_dir)
    classify = pipeline("text-classification", model=committee, tokenizer=tokenizer, top_k=None)
    texts = ["The team won the game!", "Stock market rose."]
    results = classify(texts)
    with torch.no_grad():  # one text at a time, as the pipeline: the conv member sees padding (as in the paper)
        probs = [committee(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0] for text in texts]
    for result, row in zip(results, probs):
        scores = {r["label"]: r["score"] for r in result}
        assert set(scores) == set(LABELS.values())
        for i, label in LABELS.items():
            assert math.isclose(scores[label], row[i].item(), rel_tol=1e-5)


# Runs where the modeling_tlm package cannot be imported (tests/isolation.py): only the checkpoint's code builds it.
LOAD_AND_RUN = """
import json, torch
from transformers import AutoModelForSequenceClassification
model = AutoModelForSequenceClassification.from_pretrained({source!r}, trust_remote_code=True).eval()
with torch.no_grad():
    out = model(torch.tensor({ids}), torch.tensor({mask}), output_member_logits=True)
print(json.dumps(dict(cls=type(model).__module__ + "." + type(model).__name__, logits=out.logits.tolist(),
                      members=out.member_logits.shape[1])))
"""


def load_without_package(source, env=None) -> dict:
    ids, mask = padded_batch()
    code = LOAD_AND_RUN.format(source=str(source), ids=ids.tolist(), mask=mask.tolist())
    return json.loads(run_without_package(code, env=env).stdout.strip().splitlines()[-1])


def test_trust_remote_code_without_the_package(committee_dir):
    remote = load_without_package(committee_dir)
    assert remote["cls"].startswith("transformers_modules.")  # built from the code copied into the checkpoint
    assert remote["cls"].endswith(".modeling_committee.TLMCommitteeForSequenceClassification")
    assert remote["members"] == 3
    local = AutoModelForSequenceClassification.from_pretrained(committee_dir)
    with torch.no_grad():
        torch.testing.assert_close(torch.tensor(remote["logits"]), local(*padded_batch()).logits, atol=1e-6, rtol=1e-6)


def test_hub_round_trip(committee_dir, local_hub, monkeypatch):
    local_hub.activate(monkeypatch)
    committee = AutoModelForSequenceClassification.from_pretrained(committee_dir)
    repo = "test-user/tiny-committee"
    committee.push_to_hub(repo, token=local_hub.token)
    AutoTokenizer.from_pretrained(committee_dir).push_to_hub(repo, token=local_hub.token)
    remote = load_without_package(repo, env=local_hub.env())
    with torch.no_grad():
        torch.testing.assert_close(torch.tensor(remote["logits"]), committee(*padded_batch()).logits, atol=1e-6, rtol=1e-6)


def test_members_in_processes_answer_as_the_committee():
    """Each member in its own process (one thread): the averaged probabilities are the committee's own."""
    from modeling_tlm.committee import MembersInProcesses

    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(TLMForSequenceClassification(TLMConfig.from_preset("tiny", num_labels=3)).eval())
    committee = TLMCommitteeForSequenceClassification.from_members(members).eval()
    ids = torch.randint(5, 1000, (3, 12))
    in_processes = MembersInProcesses(committee)
    try:
        with torch.no_grad():
            torch.testing.assert_close(in_processes(ids), committee(ids).logits, atol=1e-5, rtol=1e-5)
    finally:
        in_processes.close()
    assert all(process.exitcode == 0 for process in in_processes.processes)  # closed: every member process ended
