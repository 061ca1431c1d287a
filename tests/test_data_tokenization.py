"""Tokenizers: the config check, training a WordPiece vocabulary, loading errors, cache keys."""
from types import SimpleNamespace

import pytest
from transformers import AutoTokenizer

from modeling_tlm.data import (
    SPECIAL_TOKENS,
    DataError,
    check_tokenizer_matches_config,
    load_tokenizer,
    special_token_ids,
    tokenizer_fingerprint,
    train_wordpiece_tokenizer,
)
from tests.conftest import TOY_SENTENCES

pytestmark = pytest.mark.usefixtures("datasets_cache")


def _config_for(tok, **overrides):
    fields = dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id, cls_token_id=tok.cls_token_id,
                  sep_token_id=tok.sep_token_id, mask_token_id=tok.mask_token_id)
    return SimpleNamespace(**{**fields, **overrides})


def test_trained_tokenizer_round_trips_through_auto_tokenizer(tmp_path):
    from datasets import Dataset

    texts = Dataset.from_dict({"text": TOY_SENTENCES * 10})
    tok = train_wordpiece_tokenizer(texts, vocab_size=120, output_dir=tmp_path / "tok", min_frequency=1)
    assert (tmp_path / "tok" / "tokenizer.json").exists() and (tmp_path / "tok" / "vocab.txt").exists()
    loaded = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert len(loaded) <= 120 and len(loaded) == len(tok)
    assert [loaded.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (loaded.pad_token_id, loaded.unk_token_id, loaded.cls_token_id, loaded.sep_token_id,
            loaded.mask_token_id) == (0, 1, 2, 3, 4)
    enc = loaded("The QUICK brown fox.")["input_ids"]
    assert enc[0] == 2 and enc[-1] == 3 and 1 not in enc  # [CLS] ... [SEP], no unknown pieces
    assert loaded.decode(enc, skip_special_tokens=True) == "the quick brown fox."  # lowercased
    assert enc == tok("The QUICK brown fox.")["input_ids"]
    check_tokenizer_matches_config(loaded, _config_for(tok))


def test_vocab_size_below_the_alphabet_is_said(tmp_path, caplog):
    """WordPiece keeps every character (and its ## form) however small vocab_size is: the real size is reported."""
    text = " ".join(chr(c) * 3 for c in range(ord("a"), ord("z") + 1)) + " 0123456789 ÄÖÜ éèê"
    with caplog.at_level("WARNING"):
        tok = train_wordpiece_tokenizer([text] * 5, 20, tmp_path, min_frequency=1)
    assert len(tok) > 20
    assert f"vocab_size=20 is smaller than the alphabet the corpus needs: the vocabulary has {len(tok)} tokens" \
        in caplog.text


def test_tokenizer_from_plain_strings_and_cased(tmp_path):
    tok = train_wordpiece_tokenizer(iter(TOY_SENTENCES * 5), 100, tmp_path, lowercase=False, min_frequency=1)
    assert "The" in tok.tokenize("The fox")
    with pytest.raises(DataError, match="vocab_size=3 is too small"):
        train_wordpiece_tokenizer(TOY_SENTENCES, 3, tmp_path)


def test_config_check_accepts_a_match_and_names_the_mismatch(toy_tokenizer):
    tok = toy_tokenizer
    check_tokenizer_matches_config(tok, _config_for(tok))
    check_tokenizer_matches_config(tok, SimpleNamespace(vocab_size=len(tok)))  # missing ids are not checked
    with pytest.raises(DataError, match=rf"vocab_size: the tokenizer has {len(tok)} tokens but config.vocab_size "
                                        r"is 30522; this tokenizer was not made for this model"):
        check_tokenizer_matches_config(tok, _config_for(tok, vocab_size=30522))
    with pytest.raises(DataError, match=r"pad_token_id: the tokenizer's pad_token \('\[PAD\]'\) has id 0 but "
                                        r"config.pad_token_id is 1"):
        check_tokenizer_matches_config(tok, _config_for(tok, pad_token_id=1))
    with pytest.raises(DataError, match=r"cls_token_id: .* id 2 but config.cls_token_id is 101"):
        check_tokenizer_matches_config(tok, _config_for(tok, cls_token_id=101))
    n = len(tok)
    tok.add_tokens(["[E1]", "[/E1]"], special_tokens=True)
    with pytest.raises(DataError, match=rf"the tokenizer has {n + 2} tokens, 2 more than config.vocab_size={n}, "
                                        r"because tokens were added to it \(\[E1\], \[/E1\]\)\. Resize the model"):
        check_tokenizer_matches_config(tok, _config_for(tok, vocab_size=n))
    assert {n, n + 1} <= special_token_ids(tok)


def test_bert_tokenizer_matches_the_tlm_config(bert_tokenizer_dir):
    from modeling_tlm import TLMConfig

    tok = load_tokenizer(bert_tokenizer_dir, TLMConfig())
    assert tok("Hello World, tokenization!")["input_ids"] == [101, 7592, 2088, 1010, 19204, 3989, 999, 102]
    with pytest.raises(DataError, match="vocab_size"):
        load_tokenizer(bert_tokenizer_dir, TLMConfig(vocab_size=8000, pad_token_id=0, cls_token_id=2,
                                                     sep_token_id=3, mask_token_id=4))


def test_load_tokenizer_errors(tmp_path, toy_tokenizer_dir):
    with pytest.raises(DataError, match=r"nowhere: no such tokenizer folder"):
        load_tokenizer(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"could not load a tokenizer from"):
        load_tokenizer(tmp_path)  # a folder without tokenizer files
    assert len(load_tokenizer(toy_tokenizer_dir)) > 5


def test_fingerprint_ignores_call_state_but_not_vocabulary(toy_tokenizer):
    before = tokenizer_fingerprint(toy_tokenizer)
    toy_tokenizer(["a long text"] * 2, truncation=True, max_length=4, padding="max_length")
    assert tokenizer_fingerprint(toy_tokenizer) == before
    toy_tokenizer.add_tokens(["zzz"])
    assert tokenizer_fingerprint(toy_tokenizer) != before
