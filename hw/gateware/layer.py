"""One LIF layer of the core: event-driven accumulate over fan-out CSR, then a neuron pass.

Per step the layer is in one of three phases:

* ACCUM: each input event `j` reads its row `(ptr[j], ptr[j+1])`, the walker issues one synapse
  read per clock, and a two-stage read-modify-write adds the weight to the membrane RAM. The
  membrane read port is transparent to the write port, so back-to-back hits on one neuron see the
  value written in the same cycle: no bubbles, one synaptic event per clock.
* PASS: every neuron once, in address order: compare with θ, emit a spike, and store the base of the
  next step (`hw.gateware.plan.next_base`), so the next ACCUM only has to add weights.
* FLUSH: forward the END (or CLEAR) beat that closed the step.

A CLEAR runs the same pass with V forced to 0 and no spikes: the RAM returns to its reset contents.
"""
from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .plan import PARAMS, LayerPlan


class Kind(enum.Enum, shape=2):
    SPIKE = 0  # one event at `addr`
    END = 1  # end of the time step
    CLEAR = 2  # new sample: membranes back to V(0) = 0


def beat_layout(addr_width: int) -> data.StructLayout:
    return data.StructLayout({"addr": unsigned(addr_width), "kind": Kind})


def beat_stream(addr_width: int) -> stream.Signature:
    return stream.Signature(beat_layout(addr_width))


def _params(m: Module, p: LayerPlan, addr, en) -> dict:
    """Per-neuron constants, read alongside the membrane: one ROM word for those that vary
    between neurons (one block RAM, not three), constants for the rest."""
    shapes = {}
    for name in PARAMS:
        width, is_signed = p.param_shape(name)
        shapes[name] = signed(width) if is_signed else unsigned(width)
    values = {name: Const(getattr(p, name)[0], shapes[name]) for name in PARAMS}
    if p.params_rom is not None:
        rom = m.submodules.params = Memory(shape=unsigned(sum(shapes[n].width for n in p.varying_params)),
                                           depth=p.n_out, init=p.params_rom)
        port = rom.read_port()
        m.d.comb += [port.addr.eq(addr), port.en.eq(en)]
        shift = 0
        for name in p.varying_params:
            field = port.data[shift:shift + shapes[name].width]
            values[name] = field.as_signed() if shapes[name].signed else field
            shift += shapes[name].width
    return values, shapes


class LifLayer(wiring.Component):
    def __init__(self, plan: LayerPlan):
        self.plan = plan
        super().__init__({"events": In(beat_stream(plan.in_width)), "spikes": Out(beat_stream(plan.out_width))})

    def elaborate(self, platform):
        p = self.plan
        m = Module()
        pw, ow = p.ptr_width, p.out_width

        m.submodules.synapses = synapses = Memory(shape=unsigned(p.syn_width), depth=len(p.synapses), init=p.synapses)
        m.submodules.membrane = membrane = Memory(shape=signed(p.v_width), depth=p.n_out, init=p.v_init)
        syn_r = synapses.read_port()
        mem_w = membrane.write_port()
        mem_r = membrane.read_port(transparent_for=(mem_w,))

        pending = Signal()  # an END/CLEAR was accepted: the step is closing
        cmd = Signal(Kind)

        # ---- ACCUM: event -> row -> synapse walk -> membrane read-modify-write
        row_valid = Signal()  # row_start/row_end hold the fan-out list of an accepted event
        fetch = Signal()  # accept an event this cycle: its row is ready next cycle
        if p.storage == "csr":
            m.submodules.rows = rows = Memory(shape=unsigned(2 * pw), depth=p.n_in, init=p.rows)
            rows_r = rows.read_port()
            m.d.comb += [rows_r.addr.eq(self.events.payload.addr), rows_r.en.eq(fetch)]
            row_start, row_end = rows_r.data[:pw], rows_r.data[pw:]
        else:  # dense: row j is words j·n_out .. (j+1)·n_out - 1
            row_start, row_end = Signal(pw), Signal(pw)
            with m.If(fetch):
                m.d.sync += [row_start.eq(self.events.payload.addr * p.n_out),
                             row_end.eq(self.events.payload.addr * p.n_out + p.n_out)]
        cur = Signal(pw)
        cur_next = Signal(pw)  # cur + 1, kept in a register: no carry chain on the ready path
        end = Signal(pw)
        s_valid = Signal()  # syn_r.data holds a synapse
        m_valid = Signal()  # mem_r.data holds the membrane of m_idx
        m_idx = Signal(ow)
        m_val = Signal(signed(p.w_bits))

        walking = cur != end
        last = walking & (cur_next == end)
        take_row = row_valid & (~walking | last)
        drained = ~row_valid & ~walking & ~s_valid & ~m_valid
        if p.storage == "csr":
            syn_idx = syn_r.data[:ow]
            syn_val = syn_r.data[ow:].as_signed()
        else:  # the neuron index is the position in the row: count it, one cycle behind like the data
            col = Signal(ow)
            syn_idx = Signal(ow)
            with m.If(take_row):
                m.d.sync += col.eq(0)
            with m.Elif(walking):
                m.d.sync += col.eq(col + 1)
            m.d.sync += syn_idx.eq(col)
            syn_val = syn_r.data.as_signed()

        # ---- PASS: three stages, all held while a spike waits on a stalled output
        n = Signal(range(p.n_out + 1))
        v1 = Signal()
        n1 = Signal(ow)
        v2 = Signal()
        n2 = Signal(ow)
        fired2 = Signal()
        clearing = cmd == Kind.CLEAR
        issue = n != p.n_out
        advance = ~(v2 & fired2 & ~clearing & ~self.spikes.ready)

        params, shapes = _params(m, p, n, advance)
        theta, bias, leak_b = params["theta"], params["bias"], params["leak_b"]
        theta_shape, bias_shape = shapes["theta"], shapes["bias"]
        v = Signal(signed(p.v_width))
        m.d.comb += v.eq(Mux(clearing, 0, mem_r.data))
        prod2 = Signal(signed(p.v_width + p.leak_f + 2))
        theta2 = Signal(theta_shape)
        bias2 = Signal(bias_shape)
        leaked = prod2 >> p.leak_f  # arithmetic shift: floor, as in sim.artifact.leak
        if p.reset == "subtract":
            base = leaked - Mux(fired2, theta2, 0) + bias2
        else:
            base = Mux(fired2, 0, leaked) + bias2

        with m.FSM():
            with m.State("ACCUM"):
                ready = ~pending & (~row_valid | take_row)
                accept = self.events.valid & ready
                is_event = self.events.payload.kind == Kind.SPIKE
                in_range = self.events.payload.addr < p.n_in  # out-of-range addresses are dropped
                m.d.comb += [
                    self.events.ready.eq(ready),
                    fetch.eq(accept & is_event & in_range),
                    syn_r.addr.eq(cur),
                    mem_r.addr.eq(syn_idx),
                    mem_w.addr.eq(m_idx),
                    mem_w.data.eq(mem_r.data + m_val),
                    mem_w.en.eq(m_valid),
                ]
                with m.If(fetch):
                    m.d.sync += row_valid.eq(1)
                with m.Elif(take_row):
                    m.d.sync += row_valid.eq(0)
                with m.If(accept & ~is_event):
                    m.d.sync += [pending.eq(1), cmd.eq(self.events.payload.kind)]
                with m.If(take_row):
                    m.d.sync += [cur.eq(row_start), cur_next.eq(row_start + 1), end.eq(row_end)]
                with m.Elif(walking):
                    m.d.sync += [cur.eq(cur_next), cur_next.eq(cur_next + 1)]
                m.d.sync += [s_valid.eq(walking), m_valid.eq(s_valid), m_idx.eq(syn_idx), m_val.eq(syn_val)]
                with m.If(pending & drained):
                    m.d.sync += [n.eq(0), v1.eq(0), v2.eq(0)]
                    m.next = "PASS"

            with m.State("PASS"):
                m.d.comb += [
                    mem_r.addr.eq(n),
                    mem_r.en.eq(advance),
                    mem_w.addr.eq(n2),
                    mem_w.data.eq(base),
                    mem_w.en.eq(v2 & advance),
                    self.spikes.valid.eq(v2 & fired2 & ~clearing),
                    self.spikes.payload.addr.eq(n2),
                    self.spikes.payload.kind.eq(Kind.SPIKE),
                ]
                with m.If(advance):
                    m.d.sync += [v1.eq(issue), n1.eq(n), v2.eq(v1), n2.eq(n1),
                                 fired2.eq(v > theta), prod2.eq(v * leak_b), theta2.eq(theta), bias2.eq(bias)]
                    with m.If(issue):
                        m.d.sync += n.eq(n + 1)
                with m.If(~issue & ~v1 & ~v2):
                    m.next = "FLUSH"

            with m.State("FLUSH"):
                m.d.comb += [self.spikes.valid.eq(1), self.spikes.payload.kind.eq(cmd)]
                with m.If(self.spikes.ready):
                    m.d.sync += pending.eq(0)
                    m.next = "ACCUM"
        return m
