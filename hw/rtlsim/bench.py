"""cocotb bench for the core (runs inside the simulator; launched by hw.rtlsim.cosim.simulate).

It streams a job's samples into `events` (CLEAR, then per step the events and END), watches the
spike stream of every layer, and saves per-layer spikes and the `cycles` of every step. Options
from the job: `gap` (probability the input is idle in a cycle), `stall` (probability the output
is not ready), `shuffle` (random event order inside a step), `junk` (probability of an extra
event with an address >= n_in, which the core must ignore), `abort` (probability that a sample is
preceded by a step of random events closed by the sample's CLEAR instead of END, which must drop
it), `seed`.
"""
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, Timer

from hw.gateware.layer import Kind
from sim.reference import events_of

END, CLEAR = Kind.END.value, Kind.CLEAR.value
DEADLOCK_CYCLES = 200_000
PERIOD_NS = 10


def _beats(counts, in_width, shuffle, junk, abort, rng):
    beats = []
    n_in = counts.shape[-1]
    for sample in counts:
        if rng.random() < abort:
            beats += [rng.randrange(n_in) for _ in range(rng.randint(1, 2 * n_in))]
        beats.append(CLEAR << in_width)
        for step in sample:
            events = events_of(step).tolist()
            if junk and n_in < 1 << in_width:
                events += [rng.randrange(n_in, 1 << in_width) for _ in events if rng.random() < junk]
            if shuffle:
                rng.shuffle(events)
            beats += events
            beats.append(END << in_width)
    return beats


async def _load(dut, image) -> None:
    """Boot: the SPRAM image into `load`, one word per cycle, with `hold` up (nothing without SPRAM)."""
    if not len(image):
        return
    await FallingEdge(dut.clk)
    dut.hold.value = 1
    dut.load__valid.value = 1
    for word in image.tolist():
        dut.load__payload.value = word
        await ReadOnly()
        assert dut.load__ready.value == 1, "the core refused an image word"
        await FallingEdge(dut.clk)
    dut.load__valid.value = 0
    await ReadOnly()
    assert dut.load__ready.value == 0, "the core wants more words than the image has"
    await FallingEdge(dut.clk)
    dut.hold.value = 0


@cocotb.test()
async def run_job(dut):
    job = np.load(os.environ["HW_JOB"])
    counts = job["counts"]  # [B, T, n_in]
    n_samples, n_steps, _ = counts.shape
    widths, sizes = job["out_widths"].tolist(), job["n_outs"].tolist()
    gap, stall, seed = float(job["gap"]), float(job["stall"]), int(job["seed"])
    rng = random.Random(seed)
    beats = _beats(counts, int(job["in_width"]), bool(job["shuffle"]), float(job["junk"]),
                   float(job["abort"]), rng)

    spikes = [np.zeros((n_samples, n_steps, n), np.uint8) for n in sizes]
    cycles = np.zeros((n_samples, n_steps), np.int64)
    taps = [(getattr(dut, f"layer{k}").spikes__valid, getattr(dut, f"layer{k}").spikes__ready,
             getattr(dut, f"layer{k}").spikes__payload) for k in range(len(sizes))]
    where = [[-1, 0] for _ in sizes]  # per layer: (sample, step) of the next beat

    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.rst.value = 1
    dut.events__valid.value = 0
    dut.spikes__ready.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await _load(dut, job["image"])

    # While the input is blocked and no layer offers a beat (long synapse walks, spike-free
    # passes) nothing can happen until one of these rises: sleep on them instead of every clock.
    wake = [dut.events__ready] + [v for v, _, _ in taps]
    sent, quiet, step_of_done = 0, 0, None
    while True:
        await FallingEdge(dut.clk)
        valid = sent < len(beats) and rng.random() >= gap
        dut.events__valid.value = int(valid)
        if valid:
            dut.events__payload.value = beats[sent]
        dut.spikes__ready.value = int(rng.random() >= stall)
        await ReadOnly()
        quiet += 1
        if step_of_done is not None and int(dut.step_done.value):
            b, t = step_of_done
            cycles[b, t] = int(dut.cycles.value)
            step_of_done = None
            if (b, t) == (n_samples - 1, n_steps - 1):
                break
        in_ready = int(dut.events__ready.value)
        if valid and in_ready:
            sent += 1
            quiet = 0
        offered = False
        for k, (v, r, payload) in enumerate(taps):
            if not int(v.value):
                continue
            offered = True
            if not int(r.value):
                continue
            quiet = 0
            beat = int(payload.value)
            kind, addr = beat >> widths[k], beat & ((1 << widths[k]) - 1)
            b, t = where[k]
            if kind == CLEAR:
                where[k] = [b + 1, 0]
            elif kind == END:
                if k == len(sizes) - 1:
                    step_of_done = (b, t)
                where[k][1] += 1
            else:
                assert 0 <= b < n_samples and t < n_steps, f"layer {k}: spike {addr} outside any step"
                assert not spikes[k][b, t, addr], f"layer {k}: neuron {addr} spiked twice in sample {b} step {t}"
                spikes[k][b, t, addr] = 1
        deadlock = f"no stream transfer for {DEADLOCK_CYCLES} cycles (sent {sent}/{len(beats)} beats)"
        assert quiet < DEADLOCK_CYCLES, deadlock
        if not offered and step_of_done is None and (sent == len(beats) or not in_ready):
            timeout = Timer(DEADLOCK_CYCLES * PERIOD_NS, unit="ns")
            assert await First(timeout, *(RisingEdge(s) for s in wake)) is not timeout, deadlock

    np.savez(os.environ["HW_RESULT"], cycles=cycles, **{f"l{k}": s for k, s in enumerate(spikes)})
