"""The offline text data (MMLU exemplars shipped inside lm-eval)."""

from __future__ import annotations

import pytest

from las import texts
from las.arch.tiny import byte_tokenizer


def test_items_match_the_shipped_file():
    items = texts.mmlu_items()
    assert len({i.subject for i in items}) == 57
    assert sum(i.answer is not None for i in items) == 281
    assert all(len(i.options) == 4 and i.answer in (None, "A", "B", "C", "D") for i in items)


def test_split_is_disjoint_deterministic_and_complete():
    docs = texts.prose_corpus()
    calib, held_out = texts.split_calibration_evaluation(docs, 0.5, seed=0)
    assert not set(calib) & set(held_out)
    assert sorted(calib + held_out) == sorted(docs)
    assert texts.split_calibration_evaluation(docs, 0.5, seed=0) == (calib, held_out)
    assert texts.split_calibration_evaluation(docs, 0.5, seed=1) != (calib, held_out)


def test_token_blocks_shape_and_shortage():
    tok = byte_tokenizer()
    blocks = texts.token_blocks(tok, ["abc", "defgh"], seq_len=4, n_blocks=2)
    assert blocks.shape == (2, 4) and int(blocks[0, 3]) == tok.eos_token_id
    with pytest.raises(ValueError, match="give 10"):
        texts.token_blocks(tok, ["abc", "defgh"], seq_len=8, n_blocks=2)
