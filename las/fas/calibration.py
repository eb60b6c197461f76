"""Stage 2 of FAS (METHOD.md M9): coarse-to-fine calibration of the IF neurons.

The teacher is the fine-tuned QCFS model (Stage 1); the student is the same model with an IF
neuron (M9) at every QCFS site, ``theta = lam * exp(s)`` and ``v(0) = initial * theta``. Both
run on the same batch; the loss is ``sum_l MSE(mean_t spikes_l, QCFS_l) + w KL(teacher logits ||
student logits)`` (KL per token), minimised by Adam over the student's ``s`` and ``initial``
only (every weight frozen), with the IF floor passed straight through:

1. coarse: one ``s`` per site (layer-wise thresholds), ``initial = 1/2``;
2. fine: ``s`` and ``initial`` per channel (per FFN hidden unit), started from the coarse
   values. **Per channel, not per position**: the authors' calibration ties per-neuron
   parameters to one sequence length and width (a neuron per position); here one parameter set
   serves every position and every sequence length.

Pipelining (M6): every IF neuron reads the accumulated input of its producers, so its current is
constant over the ``T`` steps. With ``T = L`` the initial student (``s = 0``, ``initial = 1/2``)
is the teacher exactly, and the loss starts at 0; other ``T`` start from a mismatch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from las.config import NonNegativeInt, PositiveFloat, typed
from las.fas.qcfs import QCFS, FloorSTE, qcfs
from las.neurons.integrate_fire import MAX_INITIAL

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@typed
class FASCalibrationConfig:
    """The ``fas`` config group (``conf/fas/``): Stage 2's budget and loss weight.

    Attributes:
        coarse_steps: Adam steps on layer-wise thresholds.
        fine_steps: Adam steps on per-channel thresholds and initial potentials.
        lr: Adam learning rate (on the log threshold scale ``s`` and on ``initial``).
        kl_weight: ``w``, the weight of the logit KL term.
    """

    coarse_steps: NonNegativeInt
    fine_steps: NonNegativeInt
    lr: PositiveFloat
    kl_weight: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]


def if_rate(z: Tensor, theta: Tensor, initial: Tensor, T: int) -> Tensor:
    """Mean IF output over ``T`` steps for the constant current ``z`` (M9 closed form), with
    the floor passed straight through: ``theta/T * clamp(floor(z T/theta + initial), 0, T)``
    (the operations in the order of :func:`las.fas.qcfs.qcfs`, so that ``theta = lam``,
    ``initial = 1/2`` and ``T = L`` give the same floats)."""
    return FloorSTE.apply(z * T / theta + initial).clamp(0, T) * theta / T


class AlignedSite(nn.Module):
    """A QCFS site as teacher (QCFS of the fine-tuned ``lam``) or student (IF neuron, M9).

    The last output of each forward is kept in ``last`` for the per-layer MSE.
    """

    def __init__(self, source: QCFS, T: int) -> None:
        super().__init__()
        self.register_buffer("lam", source.lam.detach().clone())
        self.levels, self.T, self.site = source.levels, T, source.site
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.initial = nn.Parameter(torch.full((), 0.5))
        self.teacher, self.last = False, None

    def theta(self) -> Tensor:
        return self.lam * self.log_scale.exp()

    def initial_potential(self) -> Tensor:
        return self.initial.clamp(0.0, MAX_INITIAL)

    def forward(self, z: Tensor) -> Tensor:
        if self.teacher:
            out = qcfs(z, self.lam.to(z.dtype), self.levels)
        else:
            out = if_rate(z, self.theta().to(z.dtype), self.initial_potential().to(z.dtype), self.T)
        self.last = out
        return out

    def refine(self, channels: int) -> None:
        """Per-channel parameters from the current per-site ones (the fine phase)."""
        with torch.no_grad():
            self.log_scale = nn.Parameter(self.log_scale.expand(channels).clone())
            self.initial = nn.Parameter(self.initial.expand(channels).clone())


def align_sites(
    model: PreTrainedModel, sites: Mapping[str, QCFS], T: int
) -> dict[str, AlignedSite]:
    """Replace each QCFS module of ``model`` by an :class:`AlignedSite` (in place)."""
    aligned = {name: AlignedSite(module, T) for name, module in sites.items()}
    for name, module in aligned.items():
        model.set_submodule(name, module)
    return aligned


@contextmanager
def _teacher(sites: Mapping[str, AlignedSite], on: bool) -> Iterator[None]:
    for site in sites.values():
        site.teacher = on
    try:
        yield
    finally:
        for site in sites.values():
            site.teacher = False


def alignment_loss(
    model: PreTrainedModel, sites: Mapping[str, AlignedSite], batch: Mapping, kl_weight: float
) -> tuple[Tensor, Tensor, Tensor]:
    """(total, summed per-layer MSE, KL per token) of the student against the teacher."""
    with torch.no_grad(), _teacher(sites, True):
        target = model(**batch).logits.flatten(0, -2)
        reference = [site.last for site in sites.values()]
    logits = model(**batch).logits.flatten(0, -2)
    mse = sum(F.mse_loss(s.last, r) for s, r in zip(sites.values(), reference, strict=True))
    kl = F.kl_div(
        F.log_softmax(logits.float(), -1),
        F.log_softmax(target.float(), -1),
        log_target=True,
        reduction="batchmean",
    )
    return mse + kl_weight * kl, mse, kl


def held_out_loss(
    model: PreTrainedModel, sites: Mapping[str, AlignedSite], batches: Sequence, kl_weight: float
) -> dict[str, float]:
    """Mean alignment loss (total, mse, kl) over ``batches``, no gradients."""
    totals = torch.zeros(3, dtype=torch.float64)
    with torch.no_grad():
        for batch in batches:
            losses = alignment_loss(model, sites, batch, kl_weight)
            totals += torch.stack([t.double() for t in losses])
    mean = (totals / max(len(batches), 1)).tolist()
    return dict(zip(("loss", "mse", "kl"), mean, strict=True))


def _phase(model, sites, batches, steps: int, params: list[Tensor], cfg) -> list[float]:
    """``steps`` Adam steps on ``params``; kept only if the calibration loss went down.

    Adam normalises its steps, so even a vanishing gradient (a student that already equals the
    teacher up to float rounding) moves the parameters by ``lr``: a phase that does not lower
    the mean loss over ``batches`` is undone.
    """
    if steps == 0:
        return []
    start = [p.detach().clone() for p in params]
    before = held_out_loss(model, sites, batches, cfg.kl_weight)["loss"]
    optimizer, losses = torch.optim.Adam(params, lr=cfg.lr), []
    for batch in itertools.islice(itertools.cycle(batches), steps):
        loss = alignment_loss(model, sites, batch, cfg.kl_weight)[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    if held_out_loss(model, sites, batches, cfg.kl_weight)["loss"] > before:
        with torch.no_grad():
            for p, value in zip(params, start, strict=True):
                p.copy_(value)
    return losses


def calibrate(
    model: PreTrainedModel,
    sites: Mapping[str, AlignedSite],
    batches: Sequence[Mapping[str, Tensor]],
    cfg: FASCalibrationConfig,
) -> dict[str, list[float]]:
    """Run the coarse and then the fine phase (module docstring); the training loss per step."""
    own = {id(p) for site in sites.values() for p in site.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in own)
    if not batches:
        raise ValueError("calibration needs at least one calibration batch")
    coarse = [s.log_scale for s in sites.values()]
    losses = {"coarse": _phase(model, sites, batches, cfg.coarse_steps, coarse, cfg)}
    with torch.no_grad(), _teacher(sites, True):
        model(**batches[0])
    for site in sites.values():
        site.refine(site.last.shape[-1])
    fine = [p for s in sites.values() for p in (s.log_scale, s.initial)]
    losses["fine"] = _phase(model, sites, batches, cfg.fine_steps, fine, cfg)
    return losses


def neuron_parameters(sites: Mapping[str, AlignedSite]) -> dict[str, Tensor]:
    """``<site>.theta`` and ``<site>.initial`` per channel (float32) for the artifact."""
    tensors = {}
    for name, site in sites.items():
        with torch.no_grad():
            tensors[f"{name}.theta"] = site.theta().float().clone()
            tensors[f"{name}.initial"] = site.initial_potential().float().clone()
    return tensors
