"""Read the tools' reports (nextpnr `--report` JSON, yosys `stat -json`, the yosys log and netlist)
and assemble the build report: resources used vs available, fmax vs the core clock, where every
memory went, memory bits of the model, predicted cycles per step and throughput.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from hw.link import protocol as P
from hw.gateware.lanes import padding_slots
from hw.gateware.perf import row_lengths, step_cycles
from hw.gateware.plan import plan
from hw.gateware.uart import FIFO_DEPTH
from sim.artifact import memory_total

SPRAM_CELL = "SB_SPRAM256KA"
_MAPPED = re.compile(r"^mapping memory (\S+) via (\S+)", re.M)
_LOGIC = re.compile(r"^using FF mapping for memory (\S+)", re.M)


def resources(pnr: dict, family) -> dict:
    """{lut|ebr|spram|dsp|io: {used, available, cell}} from nextpnr's utilisation table."""
    util = pnr["utilization"]
    return {generic: {"used": util[cell]["used"], "available": util[cell]["available"], "cell": cell}
            for cell, generic in family.cells.items() if cell in util}


def timing(pnr: dict, target_hz: float) -> dict:
    """The slowest clock's achieved fmax against the core clock (nextpnr's own figures)."""
    clocks = {name: round(c["achieved"], 2) for name, c in pnr["fmax"].items()}
    if not clocks:
        raise ValueError("nextpnr report: no clock was analysed (is the design clocked?)")
    fmax = min(clocks.values())
    return {"fmax_mhz": fmax, "target_mhz": round(target_hz / 1e6, 3), "met": fmax >= target_hz / 1e6,
            "clocks": clocks}


def memory_placement(synth_log: str, netlist: dict | None = None, ram_cells=("SB_RAM40_4K", "DP16KD"),
                     top: str = "snn_top") -> dict:
    """Where each memory went: {name: {"to": "block RAM"|"LUT RAM"|"logic"|"SPRAM", "blocks": n}}.

    Inferred memories: the mapping comes from the memory_libmap lines of the log, the block count
    from the RAM cells of the synthesised netlist, which yosys names after their memory. SPRAM
    (instantiated, never inferred: hw/gateware/spram.py): the SB_SPRAM256KA cells of the netlist,
    counted per memory (the cell's path less its `blockN` name).
    """
    placed = {name: {"to": "LUT RAM" if "DPR16X4" in cell else "block RAM", "cell": cell, "blocks": 0}
              for name, cell in _MAPPED.findall(synth_log)}
    placed.update({name: {"to": "logic", "blocks": 0} for name in _LOGIC.findall(synth_log)})
    if netlist:
        counts, spram = Counter(), Counter()
        for module in netlist["modules"].values():
            for cell_name, cell in module["cells"].items():
                if cell["type"] in ram_cells:
                    counts[re.sub(r"(\.\d+)+$", "", cell_name)] += 1
                elif cell["type"] == SPRAM_CELL:
                    spram[f"{top}.{cell_name.rsplit('.', 1)[0]}"] += 1
        for name, entry in placed.items():
            short = name.split(".", 1)[1] if "." in name else name  # drop the top module's name
            entry["blocks"] = counts.get(short, 0)
        placed.update({name: {"to": "SPRAM", "cell": SPRAM_CELL, "blocks": n} for name, n in sorted(spram.items())})
    return placed


def model_memory(art) -> dict:
    """Weight memory of the model as the chip stores it, per encoding, and the information floor
    (sim.artifact.MemoryAccount, sim/storage.py)."""
    layers = [l.memory() for l in art.layers]
    return {"layers": [m.as_dict() for m in layers], "total": memory_total(layers)}


def lane_cost(art, plans) -> dict:
    """What the lanes cost in memory: synapse words per layer, the slots in them that hold no
    synapse (hw.gateware.lanes.padding_slots) and their bits, and the bits of every weight memory."""
    pads = [padding_slots(row_lengths(layer, p), p.storage, layer, p.lanes) for layer, p in zip(art.layers, plans)]
    return {"lanes": plans[0].lanes, "synapse_words": [len(p.synapses) for p in plans], "padding_slots": pads,
            "padding_bits": sum(n * p.syn_width // p.lanes for n, p in zip(pads, plans)),
            "weight_bits": sum(m.bits for p in plans for m in p.memories() if m.holds_weights)}


def throughput(art, fmax_hz: float, baud: int, counts: np.ndarray, workload: str, spram=(), lanes: int = 1) -> dict:
    """Cycles per step by the core's cycle model (hw.gateware.perf: lower and upper bound; `spram`:
    the memories the build put in SPRAM, `lanes` its synapses per clock), the samples/s they give at
    the achieved fmax, and the UART link's own limit."""
    lower, upper = step_cycles(art, counts, spram=spram, lanes=lanes)
    steps = counts.shape[0]
    link_bytes = np.empty(counts.shape[1])
    for i in range(counts.shape[1]):  # the bytes hw.link.host.Link sends and receives
        chunks = [c for step in counts[:, i] for c in P.step_chunks(step, art.n_in, FIFO_DEPTH)]
        sent = 1 + sum(len(c.data) for c in chunks)  # CLEAR, then the steps
        received = 1 + steps * P.step_reply_len(art.n_out) + (len(chunks) - steps)  # an ACK per SYNC
        link_bytes[i] = max(sent, received)  # full duplex: the busier direction bounds the rate
    return {"workload": workload, "samples": int(counts.shape[1]), "steps": int(steps),
            "cycles_per_step": {"mean_lower": round(float(lower.mean()), 1), "mean_upper": round(float(upper.mean()), 1),
                                "max_upper": int(upper.max())},
            "core_samples_per_s": {"min": round(fmax_hz / float(upper.sum(axis=0).mean()), 1),
                                   "max": round(fmax_hz / float(lower.sum(axis=0).mean()), 1)},
            "uart_bytes_per_sample": round(float(link_bytes.mean()), 1),
            "uart_samples_per_s": round(baud / 10 / float(link_bytes.mean()), 1)}


def assemble(art, board, estimate, *, pnr: dict, stat: dict, synth_log: str, netlist: dict | None,
             target_hz: float, baud: int, counts: np.ndarray, workload: str) -> dict:
    t = timing(pnr, target_hz)
    plans = plan(art, spram=estimate.spram_names, lanes=estimate.lanes)
    result = {
        "board": board.name, "device": f"{board.platform.device} {board.platform.package}",
        "model": {"shape": [art.n_in] + [l.n_out for l in art.layers], "nnz": [l.nnz for l in art.layers],
                  "w_bits": [l.w_bits for l in art.layers], "steps": art.steps,
                  "storage": [p.storage for p in plans]},
        "lanes": lane_cost(art, plans),
        "resources": resources(pnr, board.family),
        "timing": t,
        "cells": dict(sorted(stat["design"]["num_cells_by_type"].items())),
        "memories": memory_placement(synth_log, netlist),
        "model_memory": model_memory(art),
        "estimate": estimate.as_dict(),
        "uart": {"baud": baud},
        "throughput": throughput(art, t["fmax_mhz"] * 1e6, baud, counts, workload, estimate.spram_names,
                                 estimate.lanes),
    }
    return result


def table(r: dict) -> str:
    """The human-readable report."""
    t = r["timing"]
    model = r["model"]
    lines = [f"{r['board']} ({r['device']}): model {' -> '.join(map(str, model['shape']))}, nnz {model['nnz']}, "
             f"{model['w_bits'][0]}-bit weights, stored {'/'.join(model['storage'])}",
             "",
             f"{'resource':<10}{'used':>8}{'avail':>8}{'use':>7}   estimate (pre-synthesis)"]
    est = r["estimate"]
    for name, res in r["resources"].items():
        guess = est.get(name)
        guess = (f"   {guess['low']}..{guess['high']}" if "low" in guess else f"   {guess['used']}") if guess else ""
        lines.append(f"{name:<10}{res['used']:>8}{res['available']:>8}{res['used'] / res['available']:>7.0%}"
                     + guess)
    lines += ["", f"fmax {t['fmax_mhz']:.2f} MHz vs core clock {t['target_mhz']:.2f} MHz: "
              + ("met" if t["met"] else "NOT MET"), "", "memory placement (netlist):"]
    for name, m in r["memories"].items():
        count = f", {m['blocks']} block{'s' * (m['blocks'] > 1)}" if m["blocks"] else ""
        lines.append(f"  {name.split('.', 1)[-1]:<34} {m['to']}{count}")
    image = est.get("spram", {}).get("image_words", 0)
    if image:
        lines.append(f"SPRAM image: {image} words ({2 * image} B), loaded from flash at boot")
    mm = r["model_memory"]["total"]
    lines += ["", f"weight memory: {mm['stored_bits']} b stored ({mm['encoding']}; all dense {mm['dense_bits']} b, "
                  f"all CSR {mm['csr_bits']} b, all delta {mm['delta_bits']} b); floor {mm['floor_bits']} b "
                  f"(positions {mm['entropy_bits']} + values {mm['value_bits']}): {mm['ratio']:.2f}x"]
    lanes = r["lanes"]
    # SPRAM keeps 16-bit words, and its layers are laid out for it (hw.gateware.plan.choose_layout)
    spram = ", SPRAM words at 16 bits" if image else ""
    lines.append(f"as built: {lanes['weight_bits']} b in the weight memories ({'/'.join(r['model']['storage'])}{spram})")
    lines.append(f"lanes: {lanes['lanes']} (synapses per clock); synapse words {'/'.join(map(str, lanes['synapse_words']))}, "
                 f"padding {'/'.join(map(str, lanes['padding_slots']))} empty slots = {lanes['padding_bits']} b")
    if "throughput" in r:
        th = r["throughput"]
        c, sps = th["cycles_per_step"], th["core_samples_per_s"]
        lines += [f"cycles/step (hw.gateware.perf model, {th['workload']}): mean {c['mean_lower']}..{c['mean_upper']}, "
                  f"max {c['max_upper']} -> {sps['min']}..{sps['max']} samples/s at fmax",
                  f"UART at {r['uart']['baud']} baud: {th['uart_samples_per_s']} samples/s "
                  f"({th['uart_bytes_per_sample']} B/sample)"]
    if "bitstream" in r:
        b = r["bitstream"]
        lines += [f"bitstream {b['path']} ({b['bytes']} B) sha256 {b['sha256'][:16]}…, model {r['model_digest']}",
                  "build time: " + ", ".join(f"{k} {v} s" for k, v in r["build_seconds"].items())]
    return "\n".join(lines)
