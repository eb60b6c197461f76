"""Per-site bit allocation (METHOD.md M12): the fewest-energy bits per OAT site within a budget.

Every OAT site ``j`` of a conversion may code ``T_j <= T`` bits (same thresholds, resolution
``theta / 2**T_j``; :class:`las.neurons.MTNeuron` ``bits``). :func:`allocate_bits` chooses them on
calibration batches of a causal LM, minimising the total energy subject to a fidelity budget:

1. **Energy** ``E_j(b)``: site ``j``'s exact SNN energy (M8: its SOPs times ``E_AC`` plus the float
   work left beside it, :mod:`las.energy`) when every OAT site codes ``b`` bits: one counted forward
   per candidate ``b``.
2. **Sensitivity** ``D_j(b) = c_j 4**-b``: a first-order estimate of the mean KL(ANN || SNN) that
   ``b``-bit codes at site ``j`` alone add. A ``b``-bit code's error at element ``i`` is
   ``-s_i tau_i 2**-b u_i``, ``u_i`` about uniform on ``[0, 1)`` (mean 1/2, variance 1/12), and
   ``KL ~ delta' F delta / 2`` with ``F`` the Fisher matrix, estimated by ``g g'`` for ``g`` the
   gradient at the site of the log-likelihood of tokens *sampled from the ANN* (so ``E[g] = 0``
   and ``E[g g'] = F``). Hence ``c_j = (sum_i g_i**2 tau_i**2 / 12 + sum_rows (sum_i g_i s_i
   tau_i)**2 / 4) / (2 tokens)``: the independent part of the errors plus their common
   shrinkage towards zero, from one backward pass of the float model per batch. A rounded code
   (``ConversionConfig.rounding = nearest``: error about uniform on ``[-1/2, 1/2)`` units, mean
   0) has the independent part only.
3. **Lagrangian**: for a multiplier ``lam`` each site takes ``argmin_b E_j(b) + lam D_j(b)``. The
   ``lam`` at which some choice changes order the allocations from uniform ``T`` (``lam`` large)
   to the cheapest candidates (``lam = 0``); a bisection along that path, each step *measuring*
   the whole allocated model (one forward per calibration batch), returns the cheapest measured
   allocation that meets the budget. The estimates only order the path: the budget is met as
   measured on the calibration batches, never as estimated.
4. **Held-out margin** (optional): the path is built on the first ``batches`` calibration batches
   and each measured allocation must meet the budget on ``check_batches`` further calibration
   batches too (text the sensitivities and the path never saw, still disjoint from evaluation
   text), and, with ``min_top1``, keep the ANN's top-1 next token on that share of the tokens of
   both sets. A budget met only on the batches that chose the allocation overfits them.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from las.config import Fraction, NonNegativeInt, PositiveFloat, PositiveInt, typed
from las.conversion import Calibration, ConversionConfig, convert_model
from las.conversion.build import build_spiking
from las.conversion.config import Steps
from las.conversion.factory import CalibratedFactory, FloatNonlinearity
from las.conversion.sites import OAT, Kind, Role
from las.energy import EnergyConfig, count_spikes, site_table
from las.modes import Mode

if TYPE_CHECKING:
    from transformers import PreTrainedModel

Batch = Mapping[str, Tensor]


@typed
class AllocationConfig:
    """The allocation rule (the ``allocation`` block of a ``calibration`` config, M12).

    Attributes:
        metric: the fidelity measured on the calibration batches: ``kl``, the mean per-token
            KL(ANN || SNN) of the next-token distributions (nats), or ``perplexity_ratio``,
            SNN perplexity over ANN perplexity.
        budget: the bound the metric must meet: ``kl <= budget`` (> 0) or
            ``perplexity_ratio <= budget`` (> 1).
        cuts: the candidate bit counts below ``T``, as bits removed: ``T - c`` for each ``c``
            (floored at ``min_bits``); ``T`` itself is always a candidate.
        min_bits: the fewest bits any site may code.
        seed: seed of the tokens sampled from the ANN for the sensitivity estimate.
        batches: how many calibration batches (the first; ``data.batch_size`` sequences of
            ``data.seq_len`` tokens each) the ``convert`` stage allocates on.
        check_batches: how many further calibration batches every measured allocation must
            meet the budget on as well (module docstring, step 4); 0: none.
        min_top1: the least top-1 agreement (ANN and SNN next token) every measured allocation
            must keep on the allocation and check batches, or None for no such bound.
    """

    metric: Literal["kl", "perplexity_ratio"] = "kl"
    budget: PositiveFloat = 0.005
    cuts: tuple[Steps, ...] = (2, 4, 6, 8)
    min_bits: Steps = 2
    seed: NonNegativeInt = 0
    batches: PositiveInt = 1
    check_batches: NonNegativeInt = 0
    min_top1: Fraction | None = None

    def __post_init__(self) -> None:
        if self.metric == "perplexity_ratio" and not self.budget > 1:
            raise ValueError(f"a perplexity_ratio budget must be > 1, got {self.budget}")
        if not self.cuts or len(set(self.cuts)) != len(self.cuts):
            raise ValueError(f"cuts must be distinct and at least one, got {list(self.cuts)}")

    def meets(self, measured: _Measured) -> bool:
        """Whether ``measured`` keeps the budget (and ``min_top1``) on every batch set."""
        return all(
            f[self.metric] <= self.budget and (self.min_top1 is None or f["top1"] >= self.min_top1)
            for f in measured.sets()
        )

    def candidates(self, T: int) -> list[int]:
        """The candidate bit counts at ``T`` steps, descending, ``T`` first."""
        return sorted({T} | {max(T - c, min(self.min_bits, T)) for c in self.cuts}, reverse=True)


@dataclass
class Allocation:
    """What :func:`allocate_bits` found.

    Attributes:
        bits: OAT site -> bits (every allocated site, ``T`` included).
        record: energies (pJ, and ``E_SNN / E_ANN``) and both metrics of uniform ``T`` and of
            the allocation on the calibration batches, the budget, ``lam``, the bits histogram,
            the number of measured allocations and the seconds it all took.
        sites: one row per site: bits, sensitivity ``c_j`` and estimated energy at each candidate.
    """

    bits: dict[str, int]
    record: dict
    sites: pd.DataFrame


@dataclass
class _Reference:
    """The ANN's next-token log-probabilities on one batch, its labels and kept positions."""

    logprobs: Tensor
    labels: Tensor
    keep: Tensor


def _references(model: PreTrainedModel, batches: Sequence[Batch]) -> list[_Reference]:
    refs = []
    with torch.no_grad():  # not inference mode: the references enter the sensitivity's graph
        for batch in batches:
            logits = model(**batch).logits[:, :-1].double()
            ids = batch["input_ids"]
            keep = batch.get("attention_mask", torch.ones_like(ids))[:, 1:].bool()
            refs.append(_Reference(F.log_softmax(logits, -1), ids[:, 1:], keep))
    return refs


def fidelity(
    snn: PreTrainedModel, batches: Sequence[Batch], refs: Sequence[_Reference]
) -> dict[str, float]:
    """Mean per-token KL(ANN || SNN), the perplexity ratio and the top-1 agreement (``top1``:
    share of tokens whose most likely next token is the ANN's) of ``snn`` on ``batches``."""
    kl = nll_ann = nll_snn = 0.0
    tokens = same = 0
    with torch.inference_mode():
        for batch, ref in zip(batches, refs, strict=True):
            log_snn = F.log_softmax(snn(**batch).logits[:, :-1].double(), -1)[ref.keep]
            log_ann = ref.logprobs.double()[ref.keep]
            labels = ref.labels[ref.keep, None]
            kl += float((log_ann.exp() * (log_ann - log_snn)).sum())
            nll_ann -= float(log_ann.gather(-1, labels).sum())
            nll_snn -= float(log_snn.gather(-1, labels).sum())
            same += int((log_snn.argmax(-1) == log_ann.argmax(-1)).sum())
            tokens += int(ref.keep.sum())
    ratio = math.exp((nll_snn - nll_ann) / tokens)
    return {"kl": kl / tokens, "perplexity_ratio": ratio, "top1": same / tokens}


class _Probe(nn.Module):
    """An OAT site of the float model: passes its input on as a node of its own (one per use of
    a shared tensor), kept for the gradient."""

    def __init__(self, site: str, taken: list[tuple[str, Tensor]]) -> None:
        super().__init__()
        self.site, self.taken = site, taken

    def forward(self, x: Tensor) -> Tensor:
        y = x.clone()
        if not y.requires_grad:  # frozen weights: the first site starts the graph
            y.requires_grad_()
        self.taken.append((self.site, y))
        return y


class _ProbeFactory:
    """The float model with probes at the OAT sites (HG sites: the exact function)."""

    T = 1

    def __init__(self) -> None:
        self.taken: list[tuple[str, Tensor]] = []
        self.sites: list[str] = []

    def __call__(self, site: str, role: Role) -> nn.Module:
        if role.kind is Kind.OAT:
            self.sites.append(site)
            return _Probe(site, self.taken)
        return FloatNonlinearity(role.fn) if role.kind is Kind.HG else nn.Identity()


def sensitivities(
    model: PreTrainedModel,
    calibration: Calibration,
    batches: Sequence[Batch],
    refs: Sequence[_Reference],
    cfg: ConversionConfig,
    seed: int,
) -> dict[str, float]:
    """``c_j`` of every OAT site (module docstring, step 2): ``D_j(b) = c_j 4**-b`` nats/token."""
    probes = _ProbeFactory()
    floats = build_spiking(
        copy.deepcopy(model),
        probes,
        spike_attention=cfg.spike_attention,
        softmax_offset=cfg.softmax_offset,
        convert_head=cfg.convert_head,
    ).eval()
    neurons = CalibratedFactory(calibration, cfg)
    generator = torch.Generator().manual_seed(seed)
    total = dict.fromkeys(probes.sites, 0.0)
    tokens = 0
    with torch.enable_grad():
        for batch, ref in zip(batches, refs, strict=True):
            tokens += _accumulate(floats, probes, neurons, batch, ref, generator, total)
    return {site: value / (2 * tokens) for site, value in total.items()}


def _accumulate(
    floats: PreTrainedModel,
    probes: _ProbeFactory,
    neurons: CalibratedFactory,
    batch: Batch,
    ref: _Reference,
    generator: torch.Generator,
    total: dict[str, float],
) -> int:
    """Add one batch's ``2 tokens c_j`` to ``total``; return its tokens."""
    probes.taken.clear()
    logits = floats(**batch).logits[:, :-1]
    sampled = torch.multinomial(ref.logprobs[ref.keep].exp(), 1, generator=generator)[:, 0]
    loss = F.cross_entropy(logits[ref.keep].float(), sampled, reduction="sum")
    grads = torch.autograd.grad(loss, [y for _, y in probes.taken], allow_unused=True)
    for (site, y), g in zip(probes.taken, grads, strict=True):
        if g is not None and site in neurons.calibration.thresholds:
            x, neuron = y.detach(), neurons(site, OAT)
            scaled = (g * neuron.threshold(x, x.abs())).double()
            total[site] += float(scaled.square().sum() / 12)
            if neuron.rounding == "floor":  # a rounded code has no common shrinkage
                common = (scaled * x.sign()).reshape(x.shape[0], -1).sum(1)
                total[site] += float(common.square().sum() / 4)
    return int(ref.keep.sum())


@dataclass
class _Measured:
    """One allocation measured on the calibration batches: its fidelity (:func:`fidelity`) and
    the energies on the allocation batches, its fidelity on the check batches (None without);
    ``lam``: its multiplier on the Lagrangian path (None for a uniform allocation)."""

    bits: dict[str, int]
    fidelity: dict[str, float]
    sites: pd.DataFrame
    check: dict[str, float] | None = None
    lam: float | None = None

    def sets(self) -> list[dict[str, float]]:
        """The fidelity on each batch set measured: allocation batches, then check batches."""
        return [self.fidelity] + ([self.check] if self.check is not None else [])

    @property
    def e_snn(self) -> float:
        return float(self.sites["e_snn_pj"].sum())

    @property
    def e_ann(self) -> float:
        return float(self.sites["e_ann_pj"].sum())


def measure(
    model: PreTrainedModel,
    calibration: Calibration,
    bits: Mapping[str, int],
    cfg: ConversionConfig,
    batches: Sequence[Batch],
    refs: Sequence[_Reference],
    energy: EnergyConfig,
    check: tuple[Sequence[Batch], Sequence[_Reference]] = ((), ()),
) -> _Measured:
    """Convert ``model`` with ``bits`` and measure its fidelity and exact energy (M8) on
    ``batches``, and its fidelity on the ``check`` batches (with their references) if any."""
    allocated = dataclasses.replace(calibration, bits=dict(bits))
    snn = convert_model(model, allocated, dataclasses.replace(cfg, mode=Mode.FAST))
    with count_spikes(snn) as counts:
        result = fidelity(snn, batches, refs)
    checked = fidelity(snn, *check) if check[0] else None
    return _Measured(dict(bits), result, site_table(counts, energy), checked)


def lagrangian_path(energies: pd.DataFrame, cost: pd.DataFrame) -> list[tuple[float, Tensor]]:
    """The allocations ``argmin_b E_j(b) + lam D_j(b)`` as ``lam`` falls, as (lam, candidate
    index per site), from uniform ``T`` (index 0) to the cheapest; one per change of choice.

    ``energies`` and ``cost`` are ``[site, candidate]`` tables, candidates by descending bits.
    """
    e = torch.tensor(energies.to_numpy(), dtype=torch.float64)
    d = torch.tensor(cost.to_numpy(), dtype=torch.float64)
    # lam at which each site is indifferent between two candidates (fewer bits cost more D)
    de, dd = e[:, :, None] - e[:, None, :], d[:, None, :] - d[:, :, None]
    switch = de / dd
    lams = torch.unique(switch[(dd > 0) & (de > 0)])
    # one lam inside each interval between switches and 0, after uniform T (lam infinite)
    between = torch.sqrt(lams[1:] * lams[:-1])
    inside = torch.cat([between.flip(0), torch.zeros(1, dtype=torch.float64)])
    path = [(math.inf, torch.zeros(len(e), dtype=torch.long))]
    for lam in inside.tolist():
        choice = (e + lam * d).argmin(1)
        if not torch.equal(choice, path[-1][1]):
            path.append((lam, choice))
    return path


@dataclass
class AllocationProblem:
    """The measurements one allocation rule needs, made once for any number of budgets.

    Built by :func:`prepare_allocation`: the ANN references, each uniform candidate measured
    (energy per site, the metrics on the allocation and the check batches), the sensitivities
    and the Lagrangian path. :meth:`solve` bisects the path for one rule's budget; allocations
    measured by one solve are reused by the next.
    """

    model: PreTrainedModel
    calibration: Calibration
    cfg: ConversionConfig
    batches: list[Batch]
    refs: list[_Reference]
    check: tuple[list[Batch], list[_Reference]]
    energy: EnergyConfig
    candidates: list[int]
    uniform: dict[int, _Measured]
    sites: pd.DataFrame
    path: list[tuple[float, Tensor]]
    seconds: float
    on_path: dict[int, _Measured] = dataclasses.field(default_factory=dict)

    def measure(self, bits: Mapping[str, int]) -> _Measured:
        """One allocation converted and measured on the calibration batches."""
        return measure(
            self.model,
            self.calibration,
            bits,
            self.cfg,
            self.batches,
            self.refs,
            self.energy,
            self.check,
        )

    def step(self, i: int) -> _Measured:
        """Allocation ``i`` of the path, measured (once)."""
        if i not in self.on_path:
            choice = self.path[i][1].tolist()
            bits = {s: self.candidates[k] for s, k in zip(self.sites["site"], choice, strict=True)}
            self.on_path[i] = dataclasses.replace(self.measure(bits), lam=self.path[i][0])
        return self.on_path[i]

    def solve(self, rule: AllocationConfig) -> Allocation:
        """The cheapest measured allocation meeting ``rule`` (:meth:`AllocationConfig.meets`;
        ``ValueError`` when uniform ``T`` already misses it): the last one meeting it on the
        path, by bisection, or a cheaper uniform candidate that meets it."""
        start = time.perf_counter()
        full = self.uniform[self.cfg.T]
        if not rule.meets(full):
            raise ValueError(
                f"uniform T = {self.cfg.T} already misses the budget on the calibration batches "
                f"({rule.metric} <= {rule.budget}, min_top1 {rule.min_top1}; measured "
                f"{full.sets()}): raise the allocation budget, lower min_top1 or raise the "
                "conversion's T"
            )
        measured = list(self.uniform.values())
        lo, hi = 0, len(self.path) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            measured.append(self.step(mid))
            lo, hi = (mid, hi) if rule.meets(measured[-1]) else (lo, mid - 1)
        best = min((m for m in measured if rule.meets(m)), key=lambda m: m.e_snn)
        table = self.sites.copy()
        table.insert(1, "bits", [best.bits.get(s, self.cfg.T) for s in table["site"]])
        record = _record(rule, self.cfg, self.candidates, full, best)
        record |= {"path_length": len(self.path), "measured": len(measured)}
        record["seconds"] = self.seconds + time.perf_counter() - start
        return Allocation(dict(best.bits), record, table)


def prepare_allocation(
    model: PreTrainedModel,
    calibration: Calibration,
    batches: Sequence[Batch],
    cfg: ConversionConfig,
    rule: AllocationConfig,
    energy: EnergyConfig | None = None,
    check: Sequence[Batch] = (),
) -> AllocationProblem:
    """Steps 1 and 2 of the module docstring and the path of step 3, for ``rule``'s candidates,
    on ``batches``; every measurement also on the ``check`` batches (step 4)."""
    start = time.perf_counter()
    energy, batches, check = energy or EnergyConfig(), list(batches), list(check)
    refs = _references(model, batches)
    checked = (check, _references(model, check))
    candidates = rule.candidates(cfg.T)
    # the OAT sites are allocated; a score site (M13: its code reaches only the row max's
    # comparator) keeps T bits
    c = sensitivities(model, calibration, batches, refs, cfg, rule.seed)
    allocated = [s for s in c if s in calibration.thresholds]
    uniform = {
        b: measure(
            model, calibration, dict.fromkeys(allocated, b), cfg, batches, refs, energy, checked
        )
        for b in candidates
    }
    sites = [s for s in uniform[cfg.T].sites["site"] if s in allocated]
    energies = pd.DataFrame(
        {b: uniform[b].sites.set_index("site").loc[sites, "e_snn_pj"] for b in candidates}
    )
    cost = pd.DataFrame({b: [c[s] * 4.0**-b for s in sites] for b in candidates}, sites)
    table = energies.add_prefix("e_pj_b").rename_axis("site").reset_index()
    table.insert(1, "sensitivity", [c[s] for s in sites])
    path = lagrangian_path(energies, cost)
    seconds = time.perf_counter() - start
    return AllocationProblem(
        model,
        calibration,
        cfg,
        batches,
        refs,
        checked,
        energy,
        candidates,
        uniform,
        table,
        path,
        seconds,
    )


def allocate_bits(
    model: PreTrainedModel,
    calibration: Calibration,
    batches: Sequence[Batch],
    cfg: ConversionConfig,
    rule: AllocationConfig,
    energy: EnergyConfig | None = None,
    check: Sequence[Batch] = (),
) -> Allocation:
    """Bits per OAT site of ``model``'s conversion (``cfg``, ``calibration``'s thresholds and HG
    bank) minimising energy with ``rule.metric <= rule.budget`` (and ``rule.min_top1``) measured
    on ``batches`` and on the ``check`` batches (module docstring). The result never spends more
    than uniform ``T`` on ``batches``: uniform ``T`` is measured and a candidate. ``ValueError``
    when uniform ``T`` already misses the budget.
    """
    problem = prepare_allocation(model, calibration, batches, cfg, rule, energy, check)
    return problem.solve(rule)


def _record(
    rule: AllocationConfig,
    cfg: ConversionConfig,
    candidates: list[int],
    full: _Measured,
    best: _Measured,
) -> dict:
    """The allocation's record: uniform ``T`` and the allocation side by side (``check_*``: on
    the check batches)."""
    record: dict = {"metric": rule.metric, "budget": rule.budget, "min_top1": rule.min_top1}
    record |= {"T": cfg.T, "code": cfg.code, "candidates": candidates}
    for name, m in (("uniform", full), ("allocated", best)):
        record[f"{name}_e_snn_pj"] = m.e_snn
        record[f"{name}_energy_ratio"] = m.e_snn / m.e_ann
        record |= {f"{name}_{key}": value for key, value in m.fidelity.items()}
        record |= {f"{name}_check_{key}": value for key, value in (m.check or {}).items()}
    record["energy_saved"] = 1 - best.e_snn / full.e_snn
    record["lam"] = best.lam
    histogram = Counter(best.bits.values())
    record["bits_histogram"] = {str(b): histogram[b] for b in sorted(histogram, reverse=True)}
    record["mean_bits"] = sum(best.bits.values()) / max(len(best.bits), 1)
    return record
