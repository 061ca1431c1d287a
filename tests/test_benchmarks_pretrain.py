"""The pre-training benchmark (benchmarks/pretrain_throughput.py), its measurement helpers, and the speed-ups in
TLMForMaskedLM it measures: each must leave the loss and gradients what dense BERT-style prediction gives."""

import pytest
import torch

from benchmarks.harness import in_fresh_process, peak_memory, reset_peak_memory
from modeling_tlm import TLMConfig, TLMForMaskedLM
from modeling_tlm.timing import interleaved_windows
from modeling_tlm.training import ArgumentError

MIB = 2**20


def _allocate_after_set_up(set_up_mib: int, work_mib: int) -> int:
    """Runs in a child process: a big set-up freed again, the peak count restarted, then the measured work."""
    set_up = b"x" * (set_up_mib * MIB)
    del set_up
    reset_peak_memory()
    before_work = peak_memory()
    work = b"x" * (work_mib * MIB)
    assert len(work) == work_mib * MIB
    return before_work


def test_fresh_process_peak_counts_the_work_and_not_the_set_up():
    before_work, peak = in_fresh_process(_allocate_after_set_up, 400, 150)
    assert 140 * MIB <= peak - before_work <= 170 * MIB  # the work's 150 MiB, give or take the interpreter's churn
    assert peak < before_work + 400 * MIB  # the freed set-up left no trace in the peak


def test_interleaved_windows_alternate_and_time_every_call():
    order = []
    seconds = interleaved_windows({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, windows=4)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert [len(v) for v in seconds.values()] == [4, 4] and all(s >= 0 for v in seconds.values() for s in v)


def _config(**overrides):
    fields = dict(vocab_size=90, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=16,
                  cls_token_id=1, sep_token_id=2, mask_token_id=3, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    fields.update(overrides)
    return TLMConfig(**fields)


def _batch(seed=0):
    """Ids with padding (row 1 has 9 real tokens) and labels at ~20% of the real tokens, two in the first column."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 90, (3, 16), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    labels = torch.where((torch.rand(ids.shape, generator=g) < 0.2) & mask.bool(), ids, -100)
    labels[0, 0], labels[2, 0] = 5, 6
    return ids, mask, labels


@pytest.mark.parametrize(
    "overrides", [dict(), dict(num_hidden_layers=1), dict(num_hidden_layers=0), dict(num_conv_layers=2, conv_channels=3)],
    ids=["2-layers", "1-layer", "no-layers", "conv"],
)
def test_masked_only_last_layer_gives_dense_loss_and_gradients(overrides):
    """With labels, TLM runs its last layer, head and vocabulary projection only at the labelled positions; the
    loss and every gradient must equal the dense computation's (fp32, 1e-5)."""
    torch.manual_seed(0)
    model = TLMForMaskedLM(_config(**overrides)).eval()  # eval: BatchNorm of the conv front end in a fixed state
    model.sparse_prediction = True
    ids, mask, labels = _batch()
    sparse = model(ids, mask, labels=labels).loss
    sparse_grads = torch.autograd.grad(sparse, list(model.parameters()))
    logits = model(ids, mask).logits  # (B, T, V): the dense path
    dense = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
    dense_grads = torch.autograd.grad(dense, list(model.parameters()))
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)
    for s, d in zip(sparse_grads, dense_grads):
        torch.testing.assert_close(s, d, atol=1e-5, rtol=1e-5)


def test_hidden_states_with_labels_stay_dense_and_match():
    """Asked for hidden states, the encoder runs densely: full-size states, and the loss of the sparse path."""
    torch.manual_seed(0)
    model = TLMForMaskedLM(_config()).eval()
    model.sparse_prediction = True
    ids, mask, labels = _batch()
    out = model(ids, mask, labels=labels, output_hidden_states=True)
    assert [h.shape for h in out.hidden_states] == [(3, 16, 32)] * 3
    assert out.logits.shape == ((labels != -100).sum(), 90)
    torch.testing.assert_close(out.loss, model(ids, mask, labels=labels).loss, atol=1e-6, rtol=1e-6)


def test_benchmark_smoke(data_dir, tmp_path):
    """A few steps of the tiny preset through the real Trainer path, fp32 and bf16: every figure is there and sane."""
    from benchmarks.pretrain_throughput import format_table, main

    rows = main([
        "--presets", "tiny", "--dtypes", "fp32", "bf16", "--batch_size", "4", "--seq_len", "32", "--windows", "2",
        "--memory_steps", "0", "--peak_sizes", "256", "--profile_ops", "3", "--data_dir", str(data_dir),
        "--output_dir", str(tmp_path),
    ])
    assert [(r["preset"], r["dtype"], r["steps"]) for r in rows] == [("tiny", "fp32", 3), ("tiny", "bf16", 3)]
    for r in rows:
        for name in ("tlm", "stock"):  # the profiled step's split: layers at every position, and the vocabulary
            split = r[f"{name}_profile_ms"]  # projection (at the masked positions for TLM, everywhere for stock)
            assert split["all"] >= split["dense"] + split["other"] and split["dense"] > 0 and split["other"] > 0
        assert len(r["tlm_window_tokens_per_s"]) == len(r["stock_window_tokens_per_s"]) == 2
        assert r["tlm_tokens_per_s"] > 0 and r["stock_tokens_per_s"] > 0
        assert r["ratio"] == pytest.approx(r["tlm_tokens_per_s"] / r["stock_tokens_per_s"])
        assert 0 < r["tlm_mfu"] and 0 < r["stock_mfu"]
        # TLM executes fewer FLOPs: the vocabulary projection and last layer run at the masked positions only.
        assert r["tlm_gflop_per_token"] < r["stock_gflop_per_token"]
        # Same start, data and masks: after 3 steps (loss ~ ln(30522) ~ 10.3) the losses differ only by the dropout
        # noise of a ~20-token loss; a wrong loss (a sum, other positions, other labels) is off by far more.
        assert abs(r["tlm_loss"] - r["stock_loss"]) < 0.25
    assert "| tiny | bf16 |" in format_table(rows)


def test_benchmark_rejects_bad_flags_before_work(data_dir, tmp_path):
    from benchmarks.pretrain_throughput import main

    with pytest.raises(ValueError, match="--presets 'bert-7' is unknown"):
        main(["--presets", "bert-7", "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="conv front end"):
        main(["--presets", "bert-1-conv2-k3-d64", "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="unknown dtype 'fp16'"):
        main(["--dtypes", "fp16", "--output_dir", str(tmp_path)])
    with pytest.raises(ArgumentError, match="--corpus"):
        main(["--corpus", str(tmp_path / "missing"), "--data_dir", str(data_dir), "--output_dir", str(tmp_path)])


def test_bf16_training_attention_matches_sdpa():
    """In bf16 training with dropout, TLM's CPU attention keeps its products in bf16 (SDPA would upcast to fp32) but
    computes what SDPA computes, down to the dropout draws: same seed, same output to bf16 rounding."""
    from modeling_tlm.modeling_tlm import _attention

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 8, 16, generator=g).bfloat16() for _ in range(3))
    torch.manual_seed(1)
    ours, _ = _attention(q, k, v, None, 0.3)
    torch.manual_seed(1)
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    assert ours.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), sdpa.float(), atol=3e-2, rtol=2e-2)
    torch.manual_seed(2)  # other draws: the outputs then differ, so the match above is not vacuous
    assert (_attention(q, k, v, None, 0.3)[0].float() - sdpa.float()).abs().max() > 0.1
