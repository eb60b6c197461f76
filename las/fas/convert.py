"""The FAS SNN (METHOD.md M9): IF neurons at the QCFS sites, every other part float.

The fine-tuned QCFS model (Stage 1) is built from :mod:`las.ops` operators like a LAS model, so
that :mod:`las.energy` prices it by the same rules: the IF neuron of each FFN sits at the site
whose input QCFS fed (a gated FFN's ``activation``, into the Hadamard with the float up
projection; a plain FFN's second map's ``input``, whose spikes fan out over that map), with the
calibrated per-channel ``theta`` and initial potential (Stage 2). Every other site is a
:class:`las.conversion.factory.FloatSite` or the exact float function: attention (the operator
of LAS with float operands and the exact softmax, so that ``QK^T`` and ``PV`` are counted like
LAS's ANN side), the norms and the projections compute in float, and their work is counted as
MACs and float functions on both sides of the ratio.

Modes (M6): ``fast`` (what evaluation and energy use) evaluates each IF neuron's closed form on
its accumulated input. In ``spike`` mode each IF neuron reads its accumulated input and emits its
own T-step train, a plain FFN's at an OAT site, a gated FFN's where LAS's HG neuron sits (a
neuron layer, pipelined like HG).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor, nn

from las.conversion.build import build_spiking
from las.conversion.config import ConversionConfig
from las.conversion.factory import FloatNonlinearity, FloatSite
from las.conversion.sites import Kind, Role
from las.fas.qcfs import ffn_sites, load_qcfs_model
from las.neurons import IFNeuron
from las.ops import set_mode

if TYPE_CHECKING:
    from transformers import PreTrainedModel

#: Which parts of a FAS model spike (tables).
SPIKING_PARTS = "FFN activation only (QCFS -> IF; gated FFN: the gate's activation)"


class FASFactory:
    """A :class:`las.conversion.sites.NeuronFactory`: IF neurons at the FAS sites, float else."""

    def __init__(
        self,
        neurons: Mapping[str, tuple[Tensor, Tensor]],
        identities: set[str],
        cfg: ConversionConfig,
    ) -> None:
        self.neurons, self.identities, self.cfg, self.T = neurons, identities, cfg, cfg.T

    def __call__(self, site: str, role: Role) -> nn.Module:
        if site in self.neurons:
            theta, initial = self.neurons[site]
            return IFNeuron(theta, self.T, site=site, mode=self.cfg.mode, initial=initial)
        if role.kind is Kind.HG and site not in self.identities:
            return FloatNonlinearity(role.fn)
        return FloatSite()


def convert_fas(
    model: PreTrainedModel,
    weights: Path,
    parameters: Mapping[str, Tensor],
    cfg: ConversionConfig,
    model_id: str | None = None,
    revision: str | None = None,
) -> PreTrainedModel:
    """``model`` (the original) with the fine-tuned ``weights`` and the IF neurons of
    ``parameters`` (``<site>.theta``, ``<site>.initial``; :mod:`las.fas.calibration`), in place.

    Of ``cfg`` only ``T``, ``mode``, ``softmax_offset`` and ``convert_head`` apply (the other
    switches are LAS's).
    ``ValueError`` if ``parameters`` miss a site of the model.
    """
    load_qcfs_model(model, weights, model_id, revision)
    sites = ffn_sites(model)
    missing = [s.name for s in sites if f"{s.name}.theta" not in parameters]
    if missing:
        raise ValueError(f"no FAS neuron parameters for {missing}: rerun calibrate_fas")
    neurons = {
        s.neuron_site: (parameters[f"{s.name}.theta"], parameters[f"{s.name}.initial"])
        for s in sites
    }
    identities = {s.identity_site for s in sites if s.identity_site}
    factory = FASFactory(neurons, identities, cfg)
    build_spiking(model, factory, softmax_offset=cfg.softmax_offset, convert_head=cfg.convert_head)
    set_mode(model, cfg.mode)
    model.las_conversion = cfg
    return model
