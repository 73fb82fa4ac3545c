"""One LIF layer of the core: event-driven accumulate over fan-out CSR, then a neuron pass.

Per step the layer is in one of three phases:

* ACCUM: each input event `j` reads its row (start and length), the walker issues one synapse
  word read per clock (a delta word's neuron is the previous one's plus its skip), and a two-stage read-modify-write adds the weight to the membrane RAM. The
  membrane read port is transparent to the write port, so back-to-back hits on one neuron see the
  value written in the same cycle: no bubbles, one synaptic event per clock.
* PASS: every neuron once, in address order: compare with θ, emit a spike, and store the base of the
  next step (`hw.gateware.plan.next_base`), so the next ACCUM only has to add weights.
* FLUSH: forward the END (or CLEAR) beat that closed the step.

A CLEAR runs the same pass with V forced to 0 and no spikes: the RAM returns to its reset contents.

With `plan.lanes` = L > 1 (hw/gateware/lanes.py) the membranes are L banks (neuron n: word n // L of
bank n % L), each synapse word carries L slots, one read-modify-write per bank; the pass reads L
neurons per clock and sends their spikes one per clock, holding the group while more are left.
"""
from __future__ import annotations

from types import SimpleNamespace

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .plan import PARAMS, LayerPlan
from .spram import SpramMemory, load_signature


class Kind(enum.Enum, shape=2):
    SPIKE = 0  # one event at `addr`
    END = 1  # end of the time step
    CLEAR = 2  # new sample: membranes back to V(0) = 0


def beat_layout(addr_width: int) -> data.StructLayout:
    return data.StructLayout({"addr": unsigned(addr_width), "kind": Kind})


def beat_stream(addr_width: int) -> stream.Signature:
    return stream.Signature(beat_layout(addr_width))


def _params(m: Module, p: LayerPlan, addr, en) -> tuple[list[dict], dict]:
    """Per-neuron constants of the L neurons at bank address `addr`, read alongside the membranes:
    one ROM word for those that vary between neurons (one block RAM, not three; lane b's fields at
    b times the width of one neuron's), constants for the rest."""
    shapes = {}
    for name in PARAMS:
        width, is_signed = p.param_shape(name)
        shapes[name] = signed(width) if is_signed else unsigned(width)
    lanes = [{name: Const(getattr(p, name)[0], shapes[name]) for name in PARAMS} for _ in range(p.lanes)]
    if p.params_rom is not None:
        rom = m.submodules.params = Memory(shape=unsigned(p.params_width), depth=p.bank_depth, init=p.params_rom)
        port = rom.read_port()
        m.d.comb += [port.addr.eq(addr), port.en.eq(en)]
        shift = 0
        for values in lanes:
            for name in p.varying_params:
                field = port.data[shift:shift + shapes[name].width]
                values[name] = field.as_signed() if shapes[name].signed else field
                shift += shapes[name].width
    return lanes, shapes


def _lane_signals(lanes: int, shape, name: str) -> list[Signal]:
    """One signal per lane: `name` for a single lane (the names of the L = 1 design), `name<b>` otherwise."""
    return [Signal(shape, name=name if lanes == 1 else f"{name}{b}") for b in range(lanes)]


class LifLayer(wiring.Component):
    """One LIF layer of the core (the three phases are in the module docstring).

    Ports: `events` (in) takes the beats of one step, `spikes` (out) gives one `SPIKE` per neuron
    that fired, ascending, then the `END`/`CLEAR` that closed the step. Payload widths come from
    `plan` (`in_width`, `out_width`). Memories: `synapses` (`plan.synapses` words, sim/storage.py),
    `rows` (CSR and delta, `offset | length << off_width` per input), `coarse` (one pointer per
    2^group_bits rows, when the plan has them), `membrane` (`n_out` × `v_width`, signed, holding
    the next step's base; with L lanes `membrane0..` of `bank_depth` words) and `params` (only when
    θ, bias or β differ between neurons; with lanes one word per bank address for its L neurons).
    `synapses` and `rows` are SPRAM (hw/gateware/spram.py) where `plan.spram` says so; the layer
    then has a `load` port (`load_width`-bit image addresses) that writes them at boot.
    """

    def __init__(self, plan: LayerPlan, load_width: int = 0, spram_cells: bool | None = None):
        self.plan, self.load_width, self.spram_cells = plan, load_width, spram_cells
        ports = {"events": In(beat_stream(plan.in_width)), "spikes": Out(beat_stream(plan.out_width))}
        if plan.spram:
            ports["load"] = In(load_signature(load_width))
        super().__init__(ports)

    def _rom(self, m: Module, kind: str, init: list[int], width: int, depth: int):
        """A read-only memory's read port (`addr`, `en`, `data`): block RAM pre-loaded with `init`,
        or SPRAM written through `load` at boot."""
        if kind not in self.plan.spram:
            m.submodules[kind] = rom = Memory(shape=unsigned(width), depth=depth, init=init)
            return rom.read_port(src_loc_at=1)  # named after the caller's variable, as before
        memory = next(mem for mem in self.plan.memories() if mem.name.endswith(f".{kind}"))
        m.submodules[kind] = rom = SpramMemory(memory, self.load_width, self.spram_cells)
        wiring.connect(m, wiring.flipped(self.load), rom.load)
        return rom

    def elaborate(self, platform):
        p = self.plan
        m = Module()
        syn_r = self._rom(m, "synapses", p.synapses, p.syn_width, len(p.synapses))
        mem_ws, mem_rs = [], []
        for b in range(p.lanes):  # bank b holds neurons b, b + L, ... (one bank for L = 1)
            m.submodules["membrane" if p.lanes == 1 else f"membrane{b}"] = membrane = Memory(
                shape=signed(p.v_width), depth=p.bank_depth, init=p.bank_init(b))
            mem_w = membrane.write_port()
            mem_r = membrane.read_port(transparent_for=(mem_w,))
            mem_ws.append(mem_w)
            mem_rs.append(mem_r)
        s = SimpleNamespace(syn_r=syn_r, mem_w=mem_ws, mem_r=mem_rs)  # what the stages share (per bank: lists)
        s.pending = Signal()  # an END/CLEAR was accepted: the step is closing
        s.cmd = Signal(Kind)
        self._walker(m, s)
        self._neuron_pass(m, s)
        with m.FSM():
            with m.State("ACCUM"):
                self._accumulate(m, s)
            with m.State("PASS"):
                self._pass_state(m, s)
            with m.State("FLUSH"):
                m.d.comb += [self.spikes.valid.eq(1), self.spikes.payload.kind.eq(s.cmd)]
                with m.If(self.spikes.ready):
                    m.d.sync += s.pending.eq(0)
                    m.next = "ACCUM"
        return m

    def _walker(self, m: Module, s: SimpleNamespace) -> None:
        """Event -> fan-out row -> one synapse address per clock; `syn_idx`/`syn_val` are the
        synapse read one cycle after `cur`."""
        p = self.plan
        pw, aw, lanes = p.ptr_width, p.bank_width, p.lanes
        s.row_valid = Signal()  # row_start/row_end hold the fan-out list of an accepted event
        s.fetch = Signal()  # accept an event this cycle: its row is ready next cycle
        if p.rows is not None:  # cur and end register the sums: no carry chain on the ready path
            ofs = p.off_width
            rows_r = self._rom(m, "rows", p.rows, ofs + p.len_width, p.n_in)
            m.d.comb += [rows_r.addr.eq(self.events.payload.addr), rows_r.en.eq(s.fetch)]
            row_start = rows_r.data[:ofs]
            if p.coarse is not None:  # the group's pointer, read in the same cycle as the row
                coarse_r = self._rom(m, "coarse", p.coarse, pw, len(p.coarse))
                m.d.comb += [coarse_r.addr.eq(self.events.payload.addr >> p.group_bits), coarse_r.en.eq(s.fetch)]
                row_start = (coarse_r.data + row_start)[:pw]
            row_end = row_start + rows_r.data[ofs:]
        else:  # dense: row j is words j·D .. (j+1)·D - 1, D = ceil(n_out / L)
            row_start, row_end = Signal(pw), Signal(pw)
            with m.If(s.fetch):
                m.d.sync += [row_start.eq(self.events.payload.addr * p.bank_depth),
                             row_end.eq(self.events.payload.addr * p.bank_depth + p.bank_depth)]
        s.row_start, s.row_end = row_start, row_end
        s.cur = cur = Signal(pw)
        s.cur_next = Signal(pw)  # cur + 1, kept in a register: no carry chain on the ready path
        s.end = end = Signal(pw)
        s.s_valid = Signal()  # syn_r.data holds a synapse
        s.m_valid = Signal()  # mem_r.data holds the membrane of m_idx (per bank)
        s.m_idx = _lane_signals(lanes, aw, "m_idx")
        s.m_val = _lane_signals(lanes, signed(p.w_bits), "m_val")

        s.walking = walking = cur != end
        s.last = walking & (s.cur_next == end)
        s.take_row = take_row = s.row_valid & (~walking | s.last)
        s.drained = ~s.row_valid & ~walking & ~s.s_valid & ~s.m_valid
        slot = p.syn_width // lanes  # slot b of a word feeds bank b (hw/gateware/lanes.py)
        if p.storage == "csr":
            s.syn_idx = [s.syn_r.data[b * slot:b * slot + aw] for b in range(lanes)]
            s.syn_val = [s.syn_r.data[b * slot + aw:(b + 1) * slot].as_signed() for b in range(lanes)]
        elif p.storage == "delta":  # neuron = the one after the row's previous word + skip (L = 1 only)
            first = Signal()  # the word read at `cur` is the first of its row
            after = Signal(aw)  # the neuron after the previous word of the row (0 at a row's start)
            syn_idx = Signal(aw)
            m.d.comb += syn_idx.eq(after + s.syn_r.data[:p.gap_width])
            with m.If(take_row):
                m.d.sync += first.eq(1)
            with m.Elif(walking):
                m.d.sync += first.eq(0)
            with m.If(walking & first):
                m.d.sync += after.eq(0)
            with m.Elif(s.s_valid):
                m.d.sync += after.eq(syn_idx + 1)
            s.syn_idx = [syn_idx]
            s.syn_val = [s.syn_r.data[p.gap_width:].as_signed()]
        else:  # the bank address is the position in the row: count it, one cycle behind like the data
            col = Signal(aw)
            syn_idx = Signal(aw)
            with m.If(take_row):
                m.d.sync += col.eq(0)
            with m.Elif(walking):
                m.d.sync += col.eq(col + 1)
            m.d.sync += syn_idx.eq(col)
            s.syn_idx = [syn_idx] * lanes
            s.syn_val = [(s.syn_r.data if lanes == 1 else s.syn_r.data[b * slot:(b + 1) * slot]).as_signed()
                         for b in range(lanes)]

    def _neuron_pass(self, m: Module, s: SimpleNamespace) -> None:
        """The pass pipeline's signals: three stages over bank addresses, L neurons each, all held
        while a spike waits on a stalled output; `base` (per lane) is what stage 2 writes back
        (hw.gateware.plan.next_base). The output takes one spike per clock, so stage 2 holds a
        group with k > 1 spikes for k - 1 more clocks (`left`: its spikes not yet sent)."""
        p = self.plan
        aw, lanes = p.bank_width, p.lanes
        s.n = Signal(range(p.bank_depth + 1))
        s.v1 = Signal()
        s.n1 = Signal(aw)
        s.v2 = Signal()
        s.n2 = Signal(aw)
        s.fired2 = fired2 = Signal(lanes)
        s.clearing = clearing = s.cmd == Kind.CLEAR
        s.issue = s.n != p.bank_depth
        if lanes == 1:
            s.advance = ~(s.v2 & fired2 & ~clearing & ~self.spikes.ready)
        else:
            s.left = Signal(lanes)
            s.lane = Signal(range(lanes))  # the lowest lane in `left`: the spike offered now
            for b in reversed(range(lanes)):
                with m.If(s.left[b]):
                    m.d.comb += s.lane.eq(b)
            s.rest = Signal(lanes)  # `left` once that spike is taken
            m.d.comb += s.rest.eq(s.left & ~(Const(1, lanes) << s.lane))
            s.advance = ~(s.v2 & s.left.any() & (~self.spikes.ready | s.rest.any()))

        lane_params, shapes = _params(m, p, s.n, s.advance)
        s.theta = [params["theta"] for params in lane_params]
        s.bias = [params["bias"] for params in lane_params]
        s.leak_b = [params["leak_b"] for params in lane_params]
        s.v = _lane_signals(lanes, signed(p.v_width), "v")
        m.d.comb += [v.eq(Mux(clearing, 0, r.data)) for v, r in zip(s.v, s.mem_r)]
        s.prod2 = _lane_signals(lanes, signed(p.v_width + p.leak_f + 2), "prod2")
        s.theta2 = _lane_signals(lanes, shapes["theta"], "theta2")
        s.bias2 = _lane_signals(lanes, shapes["bias"], "bias2")
        s.base = []
        for b, (prod2, theta2, bias2) in enumerate(zip(s.prod2, s.theta2, s.bias2)):
            fired = fired2 if lanes == 1 else fired2[b]
            leaked = prod2 >> p.leak_f  # arithmetic shift: floor, as in sim.artifact.leak
            if p.reset == "subtract":
                s.base.append(leaked - Mux(fired, theta2, 0) + bias2)
            else:
                s.base.append(Mux(fired, 0, leaked) + bias2)

    def _accumulate(self, m: Module, s: SimpleNamespace) -> None:
        """ACCUM: take events, walk their rows, add each weight to its membrane (two-stage
        read-modify-write per bank); move to PASS once END/CLEAR came and the pipeline is empty."""
        p = self.plan
        ready = ~s.pending & (~s.row_valid | s.take_row)
        accept = self.events.valid & ready
        is_event = self.events.payload.kind == Kind.SPIKE
        in_range = self.events.payload.addr < p.n_in  # out-of-range addresses are dropped
        m.d.comb += [
            self.events.ready.eq(ready),
            s.fetch.eq(accept & is_event & in_range),
            s.syn_r.addr.eq(s.cur),
        ]
        for mem_r, mem_w, syn_idx, m_idx, m_val in zip(s.mem_r, s.mem_w, s.syn_idx, s.m_idx, s.m_val):
            m.d.comb += [
                mem_r.addr.eq(syn_idx),
                mem_w.addr.eq(m_idx),
                mem_w.data.eq(mem_r.data + m_val),
                mem_w.en.eq(s.m_valid),
            ]
        with m.If(s.fetch):
            m.d.sync += s.row_valid.eq(1)
        with m.Elif(s.take_row):
            m.d.sync += s.row_valid.eq(0)
        with m.If(accept & ~is_event):
            m.d.sync += [s.pending.eq(1), s.cmd.eq(self.events.payload.kind)]
        with m.If(s.take_row):
            m.d.sync += [s.cur.eq(s.row_start), s.cur_next.eq(s.row_start + 1), s.end.eq(s.row_end)]
        with m.Elif(s.walking):
            m.d.sync += [s.cur.eq(s.cur_next), s.cur_next.eq(s.cur_next + 1)]
        m.d.sync += [s.s_valid.eq(s.walking), s.m_valid.eq(s.s_valid)]
        for m_idx, m_val, syn_idx, syn_val in zip(s.m_idx, s.m_val, s.syn_idx, s.syn_val):
            m.d.sync += [m_idx.eq(syn_idx), m_val.eq(syn_val)]
        with m.If(s.pending & s.drained):
            m.d.sync += [s.n.eq(0), s.v1.eq(0), s.v2.eq(0)]
            m.next = "PASS"

    def _pass_state(self, m: Module, s: SimpleNamespace) -> None:
        """PASS: every bank address once, in order: compare, spike (lowest lane first), write the
        next bases."""
        p = self.plan
        for mem_r, mem_w, base in zip(s.mem_r, s.mem_w, s.base):
            m.d.comb += [
                mem_r.addr.eq(s.n),
                mem_r.en.eq(s.advance),
                mem_w.addr.eq(s.n2),
                mem_w.data.eq(base),
                mem_w.en.eq(s.v2 & s.advance),
            ]
        fires = [v > theta for v, theta in zip(s.v, s.theta)]
        if p.lanes == 1:
            m.d.comb += [
                self.spikes.valid.eq(s.v2 & s.fired2 & ~s.clearing),
                self.spikes.payload.addr.eq(s.n2),
            ]
        else:
            m.d.comb += [
                self.spikes.valid.eq(s.v2 & s.left.any()),
                self.spikes.payload.addr.eq(Cat(s.lane, s.n2)),  # neuron n2·L + lane
            ]
            # Lanes past n_out in the last address are phantom neurons: never a spike.
            last = p.bank_depth - 1
            real = [Const(1) if last * p.lanes + b < p.n_out else s.n1 != last for b in range(p.lanes)]
            with m.If(self.spikes.valid & self.spikes.ready):
                m.d.sync += s.left.eq(s.rest)
            with m.If(s.advance):
                m.d.sync += s.left.eq(Mux(s.v1 & ~s.clearing, Cat(*(f & r for f, r in zip(fires, real))), 0))
        m.d.comb += self.spikes.payload.kind.eq(Kind.SPIKE)
        with m.If(s.advance):
            m.d.sync += [s.v1.eq(s.issue), s.n1.eq(s.n), s.v2.eq(s.v1), s.n2.eq(s.n1), s.fired2.eq(Cat(*fires))]
            for prod2, theta2, bias2, v, theta, bias, leak_b in zip(s.prod2, s.theta2, s.bias2, s.v, s.theta,
                                                                    s.bias, s.leak_b):
                m.d.sync += [prod2.eq(v * leak_b), theta2.eq(theta), bias2.eq(bias)]
            with m.If(s.issue):
                m.d.sync += s.n.eq(s.n + 1)
        with m.If(~s.issue & ~s.v1 & ~s.v2):
            m.next = "FLUSH"
