"""HG neuron: a gate routing each input to one of N fitted FS sub-neurons (METHOD.md M4)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from las.modes import Mode
from las.neurons import compiled
from las.neurons.base import (
    SpikingNeuron,
    check_finite,
    check_steps,
    float32_from_fields,
    popcount,
)
from las.neurons.mt import BitSerialState, bit_step

Symmetry = Literal["none", "even"]
#: How the fitted edges were laid out: ("uniform", m): multiples of 1/m; ("octave", m): m equal
#: steps per power of two. Both make the gate a closed form (no search over the edges).
Partition = tuple[Literal["uniform", "octave"], int]


def gate_index(a: Tensor, edges: Tensor, partition: Partition | None) -> Tensor:
    """Segment of each (clamped, float64) input: what the gate's comparator bank outputs.

    For a known partition the index is computed arithmetically (exact: ``m`` is a power of two
    and the edges are dyadic), otherwise by binary search over the edges.
    """
    n = edges.numel() - 1
    if partition is None:
        return torch.bucketize(a, edges[1:-1], right=True)
    kind, m = partition
    if kind == "uniform":
        idx = torch.floor(a * m) - torch.round(edges[0] * m)
    else:
        mantissa, exponent = torch.frexp(a)
        k0 = torch.round(torch.log2(edges[0]))
        idx = (exponent - 1 - k0) * m + torch.floor((2 * mantissa - 1) * m)
    return idx.clamp(0, n - 1).long()


#: ``(low, high, m, first, n, K)`` of a uniform partition with power-of-two ``m``.
UniformLayout = tuple[float, float, int, int, int, int]


def uniform_code(x: Tensor, low: float, high: float, m: int, first: int, n: int, K: int):
    """(clamped input, segment, code ``q``) of HG inputs on a uniform partition, in ``x``'s dtype.

    Segments are ``[(first + i)/m, (first + i + 1)/m)``, ``i < n``, ``m`` a power of two. The
    float64 route (:meth:`HGNeuron._route`) computes ``q = floor((clamp(x) - left) 2**K m)``;
    here ``j = floor(clamp(x) m 2**K)`` (a power-of-two scaling of a float, then a floor: exact)
    and ``q = min(j - (first + seg) 2**K, 2**K - 1)``. ``j`` and ``(first + seg) 2**K`` are
    exactly representable integers whose difference is an integer in ``[0, 2**K]``, so the IEEE
    subtraction is exact and ``q`` is the exact floor, in float32 as in float64. The float64
    route computes the exact floor too (``clamp(x) - left`` is exact in float64 except for
    ``|x| < 2**-30 / m`` just below an edge at 0, where both land on the cap ``2**K - 1``): M4,
    tested for every edge, its float32 neighbours and tiny inputs.
    """
    clamped = x.clamp(low, high)
    seg = (torch.floor(clamped * m) - first).clamp(0, n - 1)
    j = torch.floor(clamped * float(m * 2**K))
    q = (j - (seg + first) * float(2**K)).clamp(max=2.0**K - 1)
    return clamped, seg, q


#: ``(A, DG, c)`` of :func:`integer_tables`: the FS outputs as int64 tables.
IntegerTables = tuple[Tensor, Tensor, int]


def _odd_form(v: Tensor) -> tuple[Tensor, Tensor]:
    """(``m``, ``e``), int64, with float32 ``v = m 2**e``, ``m`` odd (``e`` = 1000 for zeros)."""
    bits = v.view(torch.int32).to(torch.int64)
    field = (bits >> 23) & 0xFF
    significand = (bits & 0x7FFFFF) | torch.where(field > 0, 0x800000, 0)
    low = significand & -significand  # the lowest set bit, a power of two below 2**24
    shift = (torch.frexp(low.double())[1].to(torch.int64) - 1).clamp(min=0)
    sign = torch.where(bits < 0, -1, 1)
    exponent = torch.where(significand == 0, 1000, field.clamp(min=1) - 150 + shift)
    return sign * (significand >> shift), exponent


def _bit_length(v: Tensor) -> Tensor:
    """Bits of non-negative int64 ``v < 2**53`` (0 for 0)."""
    return torch.frexp(v.double())[1].to(torch.int64)


def integer_tables(offset: Tensor, delta: Tensor, K: int) -> IntegerTables | None:
    """The FS outputs ``offset_i + delta_i q`` (M4, ``0 <= q < 2**K``) of float32 parameters
    as integers: ``offset_i = A_i 2**g_i``, ``delta_i = D_i 2**g_i`` (``g_i`` the lowest set
    bit of either), so ``offset_i + delta_i q = (A_i + D_i q) 2**g_i``, an int64 sum that is
    exact. Returns ``(A, DG, c)``: ``A`` int64, ``DG = 256 D + (g + c + 127)`` int64 (``D``
    and the scale's float32 exponent field in one table: one gather fewer) and the shift ``c``
    that puts every ``g_i + c`` in float32's normal exponents; or None, then the float64
    closed form runs, when any of these fails (every fitted bank here passes; tested):

    * ``|A_i + D_i q| < 2**53``: the float64 closed form is exact too, so both round the same
      number once;
    * every non-zero output, scaled by ``2**(g_i + c)`` and by ``2**g_i``, is a normal float32
      (so :func:`segment_output`'s two power-of-two scalings after its one rounding are exact);
    * no offset is ``-0.0`` (a float64 ``-0.0 + (-0.0)`` would keep the sign the int64 sum
      drops).
    """
    if bool((torch.signbit(offset) & (offset == 0)).any()):
        return None
    m_off, e_off = _odd_form(offset.float())
    m_delta, e_delta = _odd_form(delta.float())
    g = torch.minimum(e_off, e_delta)
    g = torch.where(g == 1000, 0, g)  # both zero
    integers = []
    for m, e in ((m_off, e_off), (m_delta, e_delta)):
        up = (e - g).clamp(0, 60)
        if bool(((_bit_length(m.abs()) + up > 53) & (m != 0)).any()):
            return None
        integers.append(m << up)
    A, D = integers
    top = 2**K - 1
    if bool((_bit_length(D.abs()) + K > 53).any()):  # then D q cannot overflow below
        return None
    largest = torch.maximum(A.abs(), (A + D * top).abs())
    if bool((largest >= 2**53).any()):
        return None
    # smallest non-zero |A + D q|: at an end or next to the sign change of the progression
    root = torch.where(D != 0, torch.div(-A, torch.where(D != 0, D, 1), rounding_mode="floor"), 0)
    candidates = torch.stack([torch.zeros_like(A), torch.full_like(A, top), root, root + 1])
    outputs = (A + D * candidates.clamp(0, top)).abs()
    smallest = torch.where(outputs == 0, 2**53, outputs).amin(0)
    c = max(0, -126 - int(g.min()))
    if c > 126:  # 2**-c would not be a normal float32
        return None
    for shift in (c, 0):
        exponent = g + shift
        lowest = torch.where(smallest == 2**53, 0, _bit_length(smallest) - 1 + exponent)
        if bool((exponent > 127).any() | (lowest < -126).any()):
            return None
        if bool((_bit_length(largest) + exponent > 127).any()):
            return None
    return A, D * 256 + (g + c + 127), c


def segment_output(tables: IntegerTables, index: Tensor, q: Tensor) -> Tensor:
    """float32 ``offset_i + delta_i q`` of segments ``index`` (int64) with codes ``q``
    (integral, ``0 <= q < 2**K``) from :func:`integer_tables`: the int64 sum ``A_i + D_i q``
    (exact), rounded once to float32 (a correctly rounded conversion, also where it goes
    through float64: the sum is below ``2**53``), then scaled by the
    powers of two ``2**(g_i + c)`` and ``2**-c`` (exact: normal results, checked there). So it
    is the float64 closed form rounded to float32, with no float64 arithmetic (several times
    slower in CPU vectors, and on many GPUs)."""
    units, packed, c = tables
    dg = packed[index]
    total = units[index] + (dg >> 8) * q.to(torch.int64)
    scale = ((dg & 255) << 23).to(torch.int32).view(torch.float32)
    return total.to(torch.float32) * scale * 2.0**-c


def uniform_value(x: Tensor, tables: IntegerTables, layout: UniformLayout) -> tuple[Tensor, Tensor]:
    """(HG output in float32, inputs clamped) of float32 ``x`` on a uniform partition; one pass
    compiled.

    Gate and code in float32 (exact, :func:`uniform_code`); ``offset + delta q`` by
    :func:`segment_output` (exact integers, rounded once), as the float64 closed form then cast
    to float32 does. The caller checks finiteness first (a NaN input gives an arbitrary value,
    read from within the tables).
    """
    clamped, seg, q = uniform_code(x, *layout)
    index = seg.long().clamp(0, layout[4] - 1)  # in the table even for NaN (nan_to_num: 2x slower)
    return segment_output(tables, index, q), count_true(clamped != x)


def count_true(mask: Tensor) -> Tensor:
    """``mask.sum()``, in int32 when that cannot overflow: an int64 sum in a fused HG pass cost
    about a third of the pass (CPU)."""
    return mask.sum(dtype=torch.int32 if mask.numel() < 2**31 else torch.int64)


#: ``(low, high, log2 m, k0, n, K, even)`` of an octave partition: ``m = 2**b`` steps per octave,
#: edges from ``low = 2**k0``; ``even`` evaluates on ``|x|``.
OctaveLayout = tuple[float, float, int, int, int, int, bool]


def octave_code(x: Tensor, layout: OctaveLayout) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(gate input ``a``, clamped input, segment (int32), code ``q``) of float32 ``x`` on an
    octave partition: the gate and code of :func:`octave_value` (exact, see there)."""
    low, high, b, k0, n, K, even = layout
    a = x.abs() if even else x
    clamped = a.clamp(low, high)
    bits = clamped.view(torch.int32)
    exponent = (bits >> 23) - 127
    seg = ((exponent - k0) * (1 << b) + ((bits >> (23 - b)) & ((1 << b) - 1))).clamp(0, n - 1)
    octave = (seg >> b) + k0
    left = float32_from_fields(octave, (seg & ((1 << b) - 1)) << (23 - b))
    scale = float32_from_fields(K + b - octave, torch.zeros_like(seg))
    q = torch.floor((clamped - left) * scale).clamp(max=2.0**K - 1)
    return a, clamped, seg, q


def fused_code(
    x: Tensor, layout: UniformLayout | OctaveLayout, uniform: bool
) -> tuple[Tensor, Tensor]:
    """(segment, spikes ``popcount(q)``), both int64, of finite float32 ``x`` on a uniform
    (:func:`uniform_code`) or octave (:func:`octave_code`) partition: the gate's output and the
    count of :meth:`HGNeuron.closed_form` (M4, M8), exact; one pass when compiled."""
    if uniform:
        _, seg, q = uniform_code(x, *layout)
    else:
        _, _, seg, q = octave_code(x, layout)
    return seg.long(), popcount(q.to(torch.int64))


def octave_value(x: Tensor, tables: IntegerTables, layout: OctaveLayout) -> tuple[Tensor, Tensor]:
    """(HG output in float32, inputs clamped) of float32 ``x`` on an octave partition (M4).

    The same closed form as :meth:`HGNeuron.closed_form` (gate, segment encoder, ``offset +
    delta q``), with gate and code in float32 integer fields instead of float64 ``frexp`` and
    ``ldexp``; one pass compiled. Exact, hence bit-equal to the float64 route: the clamped input
    ``c`` is a positive normal float32 (``low >= 2**-126``, checked by
    :meth:`HGNeuron.octave_layout`), so its exponent field is ``frexp``'s exponent minus one and
    its top ``b`` fraction bits are ``floor((2 mantissa - 1) m)``: the gate's segment. The
    segment's left edge ``2**k (1 + j/m)`` and the encoder's scale ``2**(K + b - k)`` are float32
    numbers built from their fields (exact; their exponents are in range, checked). ``c`` and the
    left edge lie in one octave (``left <= c <= 2 left``), so ``c - left`` is exact (Sterbenz),
    and scaling by a power of two is exact: ``q`` is the float64 route's floor. ``offset + delta
    q`` is :func:`segment_output`'s, as in :func:`uniform_value`. The caller checks
    finiteness first (a NaN would pick an arbitrary, in-range segment).
    """
    high, even = layout[1], layout[6]
    a, clamped, seg, q = octave_code(x, layout)
    outside = (a > high) if even else (clamped != a)
    return segment_output(tables, seg.long(), q), count_true(outside)


def fused_value_code(
    x: Tensor, tables: IntegerTables, layout: UniformLayout | OctaveLayout, uniform: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(value, inputs clamped, segment, spikes) of float32 ``x`` on a uniform or octave partition:
    :func:`uniform_value` or :func:`octave_value` and :func:`fused_code` in one pass when compiled
    (a counted forward, M8)."""
    value, outside = (uniform_value if uniform else octave_value)(x, tables, layout)
    return value, outside, *fused_code(x, layout, uniform)


class HGNeuron(SpikingNeuron):
    """Hierarchically gated neuron (M4) approximating a scalar function on ``[l, r]``.

    Level 1, the gate: comparators against ``edges[1:-1]`` route each (clamped) input to segment
    ``i`` = ``[edges[i], edges[i+1])``. Level 2: segment ``i`` is an FS neuron (M3) with
    ``h(t) = th(t) = w_i 2**-t`` (it bit-serially encodes ``x - edges[i]``, ``w_i`` the segment
    width) and output weights ``d(t) = delta_i 2**(K-t)``, offset ``b = -offset_i``; so its
    output is ``offset_i + delta_i * q`` with ``q = min(floor((x - edges[i]) 2**K / w_i),
    2**K - 1)`` and it fires ``popcount(q)`` spikes. The exact hierarchy of M4 (``e^floor *
    e^frac``, octave normalisation for ``1/x``) lives in how the fitting places the edges
    (integer- or octave-aligned segments sharing one relative-error profile), not in extra code.

    Args:
        edges: ``[N+1]`` ascending segment edges, ``edges[0] = l``, ``edges[-1] = r``.
        delta: ``[N]`` output weight of the lowest bit per segment.
        offset: ``[N]`` output at the segment's left edge.
        K: steps of each FS sub-neuron.
        symmetry: ``"even"`` evaluates on ``|x|`` (for ``x**2``).
        name: the approximated function, for reports.
        partition: the layout of ``edges`` if it is a regular one (see :func:`gate_index`);
            checked against the edges.

    The offset is emitted with the step-1 spike, so a train in the input's dtype may round there:
    ``spikes(x, dtype=torch.float64)`` sums bit-exactly to ``neuron(x)`` (fitted parameters are
    snapped to a dyadic grid for that, see :mod:`las.fitting.hg_fit`).

    Inputs outside ``[l, r]`` are clamped; ``n_clamped`` counts them (reset with :meth:`reset`).
    Parameters are float32; arithmetic is float64 (see ``las.neurons.base``).
    """

    def __init__(
        self,
        edges: Tensor,
        delta: Tensor,
        offset: Tensor,
        K: int = 16,
        symmetry: Symmetry = "none",
        name: str = "f",
        site: str | None = None,
        mode: Mode | str = Mode.FAST,
        partition: Partition | None = None,
    ) -> None:
        edges32 = torch.as_tensor(edges, dtype=torch.float32)
        n = edges32.numel() - 1
        if edges32.ndim != 1 or n < 1 or not bool((edges32.diff() > 0).all()):
            raise ValueError("edges must be a 1-d strictly ascending tensor of >= 2 entries")
        for label, p in (("delta", delta), ("offset", offset)):
            if torch.as_tensor(p).shape != (n,):
                raise ValueError(f"{label} must have shape [{n}] (one per segment)")
        if symmetry not in ("none", "even"):
            raise ValueError(f"symmetry must be 'none' or 'even', got {symmetry!r}")
        super().__init__(check_steps(K, "K"), site, mode)
        self.register_buffer("edges", edges32)
        self.register_buffer("delta", torch.as_tensor(delta, dtype=torch.float32))
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))
        self.register_buffer("n_clamped", torch.zeros((), dtype=torch.int64))
        self.symmetry: Symmetry = symmetry
        self.name = name
        self.partition = None if partition is None else (partition[0], int(partition[1]))
        starts = edges32.double()[:-1]
        if partition is not None and not torch.equal(
            gate_index(starts, edges32.double(), self.partition), torch.arange(n)
        ):
            raise ValueError(f"edges do not follow the declared partition {partition}")
        # float64 working copies, made once (not saved: the float32 buffers are the parameters)
        for label in ("edges", "delta", "offset"):
            self.register_buffer(f"_{label}64", getattr(self, label).double(), persistent=False)
        # the same outputs as int64 tables for the fused passes (None: they do not run)
        tables = integer_tables(self.offset, self.delta, self.K)
        units, packed, self._shift = (None, None, None) if tables is None else tables
        self.register_buffer("_units", units, persistent=False)
        self.register_buffer("_packed", packed, persistent=False)
        self._low, self._high = float(edges32[0]), float(edges32[-1])

    @property
    def K(self) -> int:
        """Steps of each FS sub-neuron (the neuron's own ``T``)."""
        return self.T

    @property
    def gate_comparisons(self) -> int:
        """Comparisons of the gate per input (M4, priced by the M8 ledger): a binary comparator
        tree over the ``N - 1`` inner edges, ``ceil(log2 N)``, plus one per range end for the
        clamp. :func:`gate_index` computes that tree's answer (a binary search over the edges;
        on a regular partition the same index arithmetically)."""
        return math.ceil(math.log2(self.delta.numel())) + 2

    def segment(self, x: Tensor) -> Tensor:
        """The gate's output (M4): the segment index of each input (int64, shape of ``x``)."""
        fused = self._fused_code(x)
        return self._route(x)[0] if fused is None else fused[0]

    def segment_count(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(:meth:`segment`, :meth:`count`) of ``x``: kept by the forward on ``x`` while
        :attr:`counting`, else one fused pass, else the float64 route and closed form."""
        check_finite(x, self.site)
        kept = self.kept(x)
        if kept is not None:
            return kept[1], kept[0]
        fused = self._fused_code(x)
        if fused is not None:
            return fused
        return self._route(x)[0], self.closed_form(x, count=True)[1]

    def fused_count(self, x: Tensor) -> Tensor | None:
        """The spikes per element as one compiled pass (:func:`fused_code`), or None."""
        fused = self._fused_code(x)
        return None if fused is None else fused[1]

    def _fused_code(self, x: Tensor) -> tuple[Tensor, Tensor] | None:
        """(segment, spikes) of float32 ``x`` on a regular layout in one compiled pass, or None
        (the float64 route runs)."""
        if x.dtype != torch.float32 or not compiled.wanted(x):
            return None
        if (layout := self.uniform_layout()) is not None:
            return compiled.run("hg_uniform_code", fused_code, x, layout, True)
        if (layout := self.octave_layout()) is not None:
            return compiled.run("hg_octave_code", fused_code, x, layout, False)
        return None

    @property
    def integer_tables(self) -> IntegerTables | None:
        """The FS outputs as :func:`integer_tables` (on the neuron's device), or None."""
        return None if self._shift is None else (self._units, self._packed, self._shift)

    @property
    def bounds(self) -> tuple[float, float]:
        """The calibrated input range ``(l, r)``."""
        return float(self.edges[0]), float(self.edges[-1])

    def placed(self, site: str | None, mode: Mode | str = Mode.FAST) -> HGNeuron:
        """A neuron sharing these fitted parameters at ``site`` in ``mode`` (own clamp counter)."""
        return HGNeuron(
            self.edges,
            self.delta,
            self.offset,
            self.K,
            self.symmetry,
            self.name,
            site,
            mode,
            self.partition,
        )

    def reset(self) -> None:
        """Zero the out-of-range counter."""
        self.n_clamped.zero_()

    def _input(self, x: Tensor) -> Tensor:
        return x.double().abs() if self.symmetry == "even" else x.double()

    def out_of_range(self, x: Tensor) -> Tensor:
        """Mask of inputs outside ``[l, r]`` (they are clamped).

        For an even function ``l`` is a resolution floor on ``|x|`` (``x**2`` of smaller inputs is
        below ``l**2``), not a range limit: only ``|x| > r`` counts there.
        """
        a = self._input(x)
        above = a > self._high
        return above if self.symmetry == "even" else above | (a < self._low)

    def uniform_layout(self) -> UniformLayout | None:
        """The layout of a uniform partition with power-of-two ``m`` (no symmetry), else None."""
        if self.symmetry != "none" or self.partition is None:
            return None
        kind, m = self.partition
        if kind != "uniform" or m & (m - 1):
            return None
        return self._low, self._high, m, round(self._low * m), self.delta.numel(), self.K

    def octave_layout(self) -> OctaveLayout | None:
        """The layout of an octave partition with power-of-two ``m`` whose gate and code
        :func:`octave_value` evaluates exactly in float32, else None.

        Needs ``low = 2**k0 >= 2**-126`` (normal float32 inputs after the clamp), ``m <= 2**23``
        and every segment's encoder scale ``2**(K + b - k)`` a normal float32.
        """
        if self.partition is None or self.partition[0] != "octave":
            return None
        m = self.partition[1]
        b = m.bit_length() - 1
        k0 = round(math.log2(self._low))
        n = self.delta.numel()
        k1 = k0 + (n - 1) // m  # the octave of the last segment
        if m & (m - 1) or b > 23 or self._low != 2.0**k0 or k0 < -126 or k1 > 127:
            return None
        if not -126 <= self.K + b - k1 <= self.K + b - k0 <= 127:
            return None
        return self._low, self._high, b, k0, n, self.K, self.symmetry == "even"

    def forward(self, x: Tensor) -> Tensor:
        if self.mode is Mode.FAST:
            check_finite(x, self.site)
            if x.dtype == torch.float32 and compiled.wanted(x):
                fused = self._fused(x)
                if fused is not None:
                    value, outside = fused
                    self.n_clamped += outside
                    return value
            return self.closed_form(x, tally=True)[0].to(x.dtype)
        self.n_clamped += int(self.out_of_range(x).sum())
        return super().forward(x)

    def _fused(self, x: Tensor) -> tuple[Tensor, Tensor] | None:
        """(value, clamp count) of float32 ``x`` in one compiled pass, or None (no regular
        layout: the float64 closed form runs); while :attr:`counting` the pass also keeps the
        segments and spikes (:func:`fused_value_code`, :meth:`segment_count`)."""
        tables = self.integer_tables
        if tables is None:
            return None
        uniform = (layout := self.uniform_layout()) is not None
        if not uniform and (layout := self.octave_layout()) is None:
            return None
        if self.counting:
            kind = "uniform" if uniform else "octave"
            value, outside, seg, spikes = compiled.run(
                f"hg_{kind}_value_code", fused_value_code, x, tables, layout, uniform
            )
            self.keep(x, spikes, seg)
            return value, outside
        if uniform:
            return compiled.run("hg_uniform", uniform_value, x, tables, layout)
        return compiled.run("hg_octave", octave_value, x, tables, layout)

    def _segments(self, a: Tensor) -> tuple[Tensor, Tensor, Tensor | float]:
        """(segment, its left edge, ``2**K / width``) for clamped float64 inputs.

        A regular partition has power-of-two widths: left edge and scale follow from the segment
        index arithmetically (exact), otherwise they are looked up.
        """
        seg = gate_index(a, self._edges64, self.partition)
        if self.partition is None:
            width = self._edges64[1:] - self._edges64[:-1]
            return seg, self._edges64[seg], 2.0**self.K / width[seg]
        kind, m = self.partition
        if kind == "uniform":
            return seg, (seg + round(self._low * m)) / m, 2.0**self.K * m
        octave = torch.div(seg, m, rounding_mode="floor") + round(math.log2(self._low))
        step = (seg % m).double()
        return (
            seg,
            torch.ldexp(1 + step / m, octave),
            torch.ldexp(torch.full(octave.shape, 2.0**self.K * m, dtype=torch.float64), -octave),
        )

    def _route(self, x: Tensor, tally: bool = False) -> tuple[Tensor, Tensor]:
        """(segment index, units of the segment's encoder) for input ``x`` (any dtype)."""
        a = self._input(x)
        clamped = a.clamp(self._low, self._high)
        if tally:
            outside = (a > self._high) if self.symmetry == "even" else (clamped != a)
            self.n_clamped += int(outside.sum())
        seg, left, scale = self._segments(clamped)
        return seg, ((clamped - left) * scale).clamp_(max=2.0**self.K - 1)

    def init_state(self, x: Tensor) -> tuple[BitSerialState, Tensor]:
        seg, units = self._route(x)
        return BitSerialState(self._delta64[seg] * 2.0**self.K, units), self._offset64[seg]

    def step(
        self, state: tuple[BitSerialState, Tensor], t: int, fired: bool = True
    ) -> tuple[Tensor, Tensor | None, tuple[BitSerialState, Tensor]]:
        bits, offset = state
        out, mask, bits = bit_step(bits, t, self.K, fired=fired)
        if t == 1:
            out = out + offset
        return out, mask, (bits, offset)

    def closed_form(
        self, x: Tensor, count: bool = False, tally: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        seg, units = self._route(x, tally)
        q = torch.floor(units)
        value = torch.addcmul(self._offset64[seg], self._delta64[seg], q)
        return value, popcount(q.long()) if count else None

    def extra_repr(self) -> str:
        l, r = self.bounds
        return f"{self.name}, segments={self.delta.numel()}, range=[{l:g}, {r:g}], K={self.K}"
