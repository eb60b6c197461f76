"""The spikingjelly peer of ``bench_core``: its OAT node and HG node built from our neurons.

spikingjelly is an optional, bench-only dependency (see ``bench/README.md``): without it
:func:`peer_status` gives the reason and the benchmarks report the peer as ``n/a``.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import torch
from core_data import Data
from torch import Tensor

from las.neurons import HGNeuron

PEER = "spikingjelly"
PEER_VERSION = "2.0.0"


def installed_version(package: str) -> str:
    """Installed version of ``package`` or ``"not installed"``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def peer_status() -> tuple[Any, str | None]:
    """Import spikingjelly's few-spike module; return (module, None) or (None, reason).

    A version other than :data:`PEER_VERSION` returns the module with a note as the reason.
    """
    try:
        from spikingjelly.activation_based.neuron import few_spike
    except Exception as err:  # any import failure makes the peer "n/a", never a crash
        return None, f"import failed: {type(err).__name__}: {err}"
    version = metadata.version(PEER)
    if version != PEER_VERSION:
        return few_spike, f"version {version} (benchmark written for {PEER_VERSION})"
    return few_spike, None


def mt_table(few_spike: Any, tau: float, T: int) -> Any:
    """The MT neuron of M1 as a spikingjelly ``FewSpikeTable``: ``theta = h = d = tau 2**-t``."""
    tau32 = float(torch.tensor(tau, dtype=torch.float32))
    weights = torch.tensor([tau32 * 2.0**-t for t in range(1, T + 1)], dtype=torch.float32)
    return few_spike.FewSpikeTable(theta=weights, h=weights, d=weights)


class PeerOAT:
    """spikingjelly's ``OutlierAwareThresholdNode`` with our thresholds and MT tables."""

    def __init__(self, data: Data) -> None:
        """Build the node in both step modes; raise ``RuntimeError`` if the peer is missing."""
        few_spike, reason = peer_status()
        if few_spike is None:
            raise RuntimeError(reason)
        tables = [mt_table(few_spike, tau, data.T) for tau in (data.theta_nor, data.theta_out)]
        kwargs = {"split_threshold": data.theta_nor, "clamp_value": data.theta_out}
        node = few_spike.OutlierAwareThresholdNode
        self.single = node(tables[0], tables[1], step_mode="s", **kwargs)
        self.multi = node(tables[0], tables[1], step_mode="m", **kwargs)

    def value(self, x: Tensor) -> Tensor:
        """Single-step mode: the summed output for the accumulated input ``x``."""
        return self.single(x)

    def train(self, x_seq: Tensor) -> Tensor:
        """Multi-step mode: the weighted train ``[T, ...]`` for an input train ``x_seq``."""
        return self.multi(x_seq)


def peer_hg(few_spike: Any, neuron: HGNeuron) -> Any:
    """Our fitted HG neuron as a spikingjelly ``HGNode`` (one table per segment, K+1 steps).

    spikingjelly's FS tables have neither an output offset nor a per-segment input shift, so a
    leading step with ``theta = h = edge_i`` and ``d = offset_i`` (it always fires inside the
    segment) supplies both; the K bit-serial steps follow, ``theta = h = w_i 2**-t`` and
    ``d = delta_i 2**(K-t)``. Its gate routes ``(g_{i-1}, g_i]`` (ours ``[g_{i-1}, g_i)``).
    """
    K, edges = neuron.K, neuron.edges
    steps = 2.0 ** -torch.arange(1, K + 1, dtype=torch.float32)
    tables = []
    for i in range(neuron.delta.numel()):
        width = edges[i + 1] - edges[i]
        theta = torch.cat([edges[i : i + 1], width * steps])
        d = torch.cat([neuron.offset[i : i + 1], neuron.delta[i] * 2.0**K * steps])
        tables.append(few_spike.FewSpikeTable(theta=theta, h=theta, d=d))
    return few_spike.HGNode(tables, edges[1:-1].clone(), step_mode="s")
