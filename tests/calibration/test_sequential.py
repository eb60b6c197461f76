"""Layer-by-layer calibration: the whole-model statistics, one block's weights at a time."""

from __future__ import annotations

import pytest
import torch

from las.arch.tiny import tiny_inputs, tiny_model
from las.calibration import collect_statistics, sequential
from las.calibration.observe import ObserverFactory
from las.calibration.sequential import collect_sequential, empty_model
from las.models import auto_class

#: Every decoder and encoder family of the registry, by its tiny model (and its loading task).
FAMILIES = {
    "llama": "causal_lm",
    "mistral": "causal_lm",
    "qwen2": "causal_lm",
    "qwen3": "causal_lm",
    "phi3": "causal_lm",
    "gemma": "causal_lm",
    "gemma2": "causal_lm",
    "gemma3": "causal_lm",
    "gpt_neox": "causal_lm",
    "gpt2": "causal_lm",
    "opt": "causal_lm",
    "bert": "encoder",
    "roberta": "encoder",
    "bert_classifier": "sequence_classification",
}


def _flat(observers: ObserverFactory) -> dict[str, torch.Tensor]:
    out = {}
    for site, stats in observers.stats.items():
        out |= stats.to_tensors(site)
    for fn, reservoir in observers.samples.items():
        out[f"samples.{fn}"] = reservoir.values
    return out


def _assert_same(a: ObserverFactory, b: ObserverFactory) -> None:
    assert list(a.stats) == list(b.stats) and a.roles == b.roles
    fa, fb = _flat(a), _flat(b)
    assert fa.keys() == fb.keys()
    different = [k for k in fa if not torch.equal(fa[k], fb[k])]
    assert not different, different


def _saved(family: str, tmp_path):
    model = tiny_model(family)
    model.save_pretrained(tmp_path / "checkpoint")
    batches = [tiny_inputs(family, seed=s) for s in range(3)]
    return (
        model,
        batches,
        lambda: empty_model(auto_class(FAMILIES[family]), model.config, model.dtype),
    )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_layer_by_layer_equals_whole_model(family, tmp_path):
    model, batches, empty = _saved(family, tmp_path)
    whole = collect_statistics(model, batches, per_channel=True)
    layered = collect_sequential(
        empty(), tmp_path / "checkpoint", batches, tmp_path / "layers", "run", per_channel=True
    )
    _assert_same(whole, layered)
    assert all(s.count > 0 for s in layered.stats.values())
    assert not (tmp_path / "layers").exists()  # checkpoints removed once complete


def test_resume_after_a_kill_between_layers_gives_the_same_statistics(tmp_path, monkeypatch):
    model, batches, empty = _saved("llama", tmp_path)
    reference = collect_statistics(model, batches)
    real_save, calls = sequential._save_state, []

    def killed_after_first_block(folder, done, *args):
        real_save(folder, done, *args)
        if done == 1:
            raise KeyboardInterrupt("killed by the time limit")

    monkeypatch.setattr(sequential, "_save_state", killed_after_first_block)
    with pytest.raises(KeyboardInterrupt):
        collect_sequential(empty(), tmp_path / "checkpoint", batches, tmp_path / "layers", "run")
    monkeypatch.setattr(sequential, "_save_state", real_save)
    real_block = sequential.run_block

    def counted(layer, hidden, call):
        calls.append(layer)
        return real_block(layer, hidden, call)

    monkeypatch.setattr(sequential, "run_block", counted)
    resumed = collect_sequential(
        empty(), tmp_path / "checkpoint", batches, tmp_path / "layers", "run"
    )
    _assert_same(reference, resumed)
    blocks = model.config.num_hidden_layers
    assert len(calls) == (blocks - 1) * len(batches)  # resumed at the second block


def test_bad_inputs_are_refused(tmp_path, monkeypatch):
    model, batches, empty = _saved("llama", tmp_path)
    with pytest.raises(ValueError, match="meta device"):
        collect_sequential(model, tmp_path / "checkpoint", batches, tmp_path / "l", "run")
    with pytest.raises(ValueError, match="no safetensors"):
        collect_sequential(empty(), tmp_path, batches, tmp_path / "l", "run")
    vlm = tiny_model("llava")
    with pytest.raises(ValueError, match="composite"):
        collect_sequential(vlm, tmp_path / "checkpoint", batches, tmp_path / "l", "run")

    def killed(folder, done, *args):
        raise KeyboardInterrupt

    real_save = sequential._save_state
    monkeypatch.setattr(sequential, "_save_state", lambda *a: (real_save(*a), killed(*a)))
    with pytest.raises(KeyboardInterrupt):
        collect_sequential(empty(), tmp_path / "checkpoint", batches, tmp_path / "l", "run")
    monkeypatch.setattr(sequential, "_save_state", real_save)
    with pytest.raises(ValueError, match="another collect run"):
        collect_sequential(empty(), tmp_path / "checkpoint", batches, tmp_path / "l", "other")
