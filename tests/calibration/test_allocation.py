"""Per-site bit allocation (METHOD.md M12) on a tiny model: budget met, energy saved, config."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from las import ConversionConfig, convert_model
from las.arch.tiny import tiny_inputs, tiny_model
from las.calibration import calibrate_model
from las.calibration.allocation import (
    AllocationConfig,
    fidelity,
    lagrangian_path,
    prepare_allocation,
    sensitivities,
)
from las.config import ConfigError, build
from las.energy import count_spikes, site_table
from las.neurons import OATNeuron

CFG = ConversionConfig(T=16)


@pytest.fixture(scope="module")
def problem():
    torch.manual_seed(0)
    model = tiny_model("llama", torch.float32)
    batches = [tiny_inputs("llama", seed=s) for s in range(4)]
    calibration, _ = calibrate_model(model, batches)
    return prepare_allocation(model, calibration, batches[:2], CFG, AllocationConfig())


def energy(snn, batches) -> float:
    with count_spikes(snn) as counts, torch.no_grad():
        for batch in batches:
            snn(**batch)
    return float(site_table(counts)["e_snn_pj"].sum())


@pytest.mark.parametrize("metric", ["kl", "perplexity_ratio"])
def test_allocation_meets_its_budget_on_calibration_data_for_less_energy(problem, metric):
    # budgets between uniform T and uniform T - 8 (which misses them): the path is walked
    full, cheapest = problem.uniform[16].fidelity[metric], problem.uniform[8].fidelity[metric]
    budget = full + (cheapest - full) / 5
    allocation = problem.solve(AllocationConfig(metric=metric, budget=budget))
    bits = allocation.bits
    assert set(bits.values()) <= set(problem.candidates) and min(bits.values()) < 16
    assert allocation.record["allocated_" + metric] <= budget
    # checked again from scratch: the allocated model, converted anew, on the calibration data
    snn = convert_model(problem.model, dataclasses.replace(problem.calibration, bits=bits), CFG)
    assert fidelity(snn, problem.batches, problem.refs)[metric] <= budget
    uniform = convert_model(problem.model, problem.calibration, CFG)
    spent, before = energy(snn, problem.batches), energy(uniform, problem.batches)
    assert spent < before
    assert spent == pytest.approx(allocation.record["allocated_e_snn_pj"], rel=1e-9)
    assert before == pytest.approx(allocation.record["uniform_e_snn_pj"], rel=1e-9)
    sites = dict(snn.named_modules())
    neuron = sites[next(s for s, b in bits.items() if b < 16).replace(".input", ".neurons.input")]
    assert isinstance(neuron, OATNeuron) and neuron.bits < neuron.T == 16


def test_a_held_out_check_and_a_top1_bound_hold_for_the_allocation(problem):
    # the same model and batches, every allocation also measured on two further batches
    torch.manual_seed(0)
    check = [tiny_inputs("llama", seed=s) for s in range(4, 6)]
    held = prepare_allocation(
        problem.model, problem.calibration, problem.batches, CFG, AllocationConfig(), check=check
    )
    full, cheapest = held.uniform[16], held.uniform[8]
    budget = full.fidelity["kl"] + (cheapest.fidelity["kl"] - full.fidelity["kl"]) / 5
    top1 = min(full.fidelity["top1"], full.check["top1"]) - 0.02
    rule = AllocationConfig(budget=budget, min_top1=top1, check_batches=2)
    allocation = held.solve(rule)
    bits = allocation.bits
    snn = convert_model(problem.model, dataclasses.replace(problem.calibration, bits=bits), CFG)
    for batches, refs in ((held.batches, held.refs), held.check):  # measured anew on both
        found = fidelity(snn, batches, refs)
        assert found["kl"] <= budget and found["top1"] >= top1
    assert allocation.record["allocated_check_kl"] == pytest.approx(
        fidelity(snn, *held.check)["kl"], rel=1e-12
    )
    assert min(bits.values()) < 16  # the bounds leave room to save


def test_rounded_codes_lose_the_common_shrinkage_and_meet_the_budget_for_less(problem):
    # the same model, thresholds and batches with rounded OAT codes (ConversionConfig.rounding)
    rounded = dataclasses.replace(CFG, rounding="nearest")
    args = (problem.model, problem.calibration, problem.batches, problem.refs)
    floor_c, nearest_c = sensitivities(*args, CFG, 0), sensitivities(*args, rounded, 0)
    assert all(nearest_c[s] <= floor_c[s] for s in floor_c)  # the independent part only
    assert sum(nearest_c.values()) < sum(floor_c.values()) / 2
    near = prepare_allocation(*args[:3], rounded, AllocationConfig())
    for b in (10, 8):  # measured: rounding loses less than truncation at equal bits
        assert near.uniform[b].fidelity["kl"] < problem.uniform[b].fidelity["kl"]
    full, cheapest = problem.uniform[16].fidelity["kl"], problem.uniform[8].fidelity["kl"]
    budget = full + (cheapest - full) / 5
    allocation = near.solve(AllocationConfig(budget=budget))
    snn = convert_model(
        problem.model, dataclasses.replace(problem.calibration, bits=allocation.bits), rounded
    )
    assert fidelity(snn, problem.batches, problem.refs)["kl"] <= budget
    assert (
        allocation.record["allocated_e_snn_pj"]
        <= problem.solve(AllocationConfig(budget=budget)).record["allocated_e_snn_pj"]
    )


def test_a_budget_uniform_T_misses_is_refused_with_the_fix(problem):
    with pytest.raises(ValueError, match="raise the allocation budget"):
        problem.solve(AllocationConfig(budget=problem.uniform[16].fidelity["kl"] / 2))


def test_the_lagrangian_path_runs_from_uniform_T_to_the_cheapest():
    energies = pd.DataFrame({16: [10.0, 8.0, 5.0], 12: [6.0, 7.0, 5.0], 8: [1.0, 6.5, 5.0]})
    cost = pd.DataFrame({16: [0.0, 0.0, 0.0], 12: [1.0, 0.1, 2.0], 8: [5.0, 3.0, 9.0]})
    path = lagrangian_path(energies, cost)
    assert path[0][0] == float("inf") and path[0][1].tolist() == [0, 0, 0]
    assert path[-1][1].tolist() == [2, 2, 0]  # the cheapest; site 3 saves nothing below T
    lams = [lam for lam, _ in path]
    assert lams == sorted(lams, reverse=True)
    spent = [sum(energies.iloc[i, k] for i, k in enumerate(c.tolist())) for _, c in path]
    assert spent == sorted(spent, reverse=True)


@pytest.mark.parametrize(
    "bad",
    [
        {"budget": 0.0},
        {"budget": -0.01},
        {"metric": "perplexity_ratio", "budget": 0.005},
        {"metric": "accuracy"},
        {"cuts": [2, 2]},
        {"cuts": []},
        {"cuts": [0]},
        {"min_bits": 0},
        {"budget": "0.005"},
        {"min_top1": 1.5},
        {"check_batches": -1},
        {"bugdet": 0.005},
    ],
)
def test_bad_allocation_configs_are_refused(bad):
    with pytest.raises(ConfigError):
        build(AllocationConfig, bad)


def test_candidates_are_T_and_its_cuts_floored_at_min_bits():
    rule = AllocationConfig(cuts=(2, 4, 6, 8), min_bits=2)
    assert rule.candidates(16) == [16, 14, 12, 10, 8]
    assert rule.candidates(6) == [6, 4, 2]


def test_bits_above_T_are_refused_naming_the_site(problem):
    site = next(iter(problem.calibration.thresholds))
    calibration = dataclasses.replace(problem.calibration, bits={site: 17})
    with pytest.raises(ValueError, match=f"site {site} is allocated 17 bits"):
        convert_model(problem.model, calibration, CFG)
