# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The researcher's loop: compress → evaluate → verify → build
#
# Everything here is the Python API, no subprocess: compress the bundled digits network at a few
# sparsities with `compress.api.compress`, plot the integer model's test accuracy against the weight
# memory the core stores, check the chosen network spike for spike on the RTL
# (`hw.rtlsim.verify.check`), and build it for the iCEBreaker (`hw.board.build.build`).
#
# This notebook is rendered from `docs/examples/researcher_loop.py` by
# `python -m docs.examples.render` (needs `pip install -e ".[notebook]"`); run it from the
# repository root. Progress bars are tqdm widgets when ipywidgets is installed, plain lines
# otherwise.

# %%
from pathlib import Path

import matplotlib.pyplot as plt

import boards
import data as datasets
from compress.api import compress
from compress.snntorch_import import CHECKPOINT_DEFAULT, load_checkpoint
from hw.board.build import build
from hw.gateware.plan import plan
from hw.rtlsim import runner
from hw.rtlsim.verify import check
from sim.artifact import load
from sim.evaluate import evaluate

model, spec = load_checkpoint(CHECKPOINT_DEFAULT)
encoding = datasets.encoding_for(spec["encoding"])
calibration = datasets.calibration_counts(encoding, 256, seed=0)  # [steps, samples, inputs]
baseline = evaluate(load(), progress=False)  # the bundled 4-bit model, not pruned
print(f"{encoding.dataset}, {encoding.steps} steps; calibration {calibration.shape}; "
      f"unpruned 4-bit accuracy {baseline:.2%}")


# %% [markdown]
# ## Sweep: a few sparsities at 4 bits
#
# The weight memory is what the core stores per layer: dense rows, CSR or delta-coded CSR (synapses,
# row words and coarse row pointers), whichever `hw.gateware.plan` picks as smallest.

# %%
def weight_bits(art) -> int:
    return sum(m.bits for layer in plan(art) for m in layer.memories() if m.holds_weights)


points = []
for sparsity in (0.5, 0.8, 0.9, 0.95):
    art, reports = compress(model, calibration, method="osbc", sparsity=sparsity, bits=4,
                            meta={"encoding": encoding.to_meta()}, progress=False)
    points.append({"sparsity": sparsity, "artifact": art, "accuracy": evaluate(art, progress=False),
                   "bits": weight_bits(art)})
    print(f"sparsity {sparsity:.2f}: accuracy {points[-1]['accuracy']:.2%}, weights {points[-1]['bits']} bits")

# %%
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot([p["bits"] / 8192 for p in points], [100 * p["accuracy"] for p in points], "o-", label="OSBC, 4 bit")
for p in points:
    ax.annotate(f"{p['sparsity']:.0%}", (p["bits"] / 8192, 100 * p["accuracy"]), textcoords="offset points",
                xytext=(4, -10), fontsize=8)
ax.axhline(100 * baseline, color="grey", ls="--", lw=1, label="unpruned")
ax.set(xlabel="weight memory (KiB)", ylabel="integer test accuracy (%)", title="digits: accuracy vs memory")
ax.legend()
plt.show()

# %% [markdown]
# ## The smallest network within one point of the unpruned model

# %%
best = min((p for p in points if p["accuracy"] >= baseline - 0.01), key=lambda p: p["bits"])
art = best["artifact"]
print(f"chosen: sparsity {best['sparsity']:.2f}, accuracy {best['accuracy']:.2%}, {best['bits']} bits")

# %% [markdown]
# ## Verify on the RTL: every spike against the integer reference

# %%
counts, labels = datasets.spikes_for(art, split="test", limit=20)
check(art, counts, labels, simulator="verilator" if not runner.missing("verilator") else "icarus", chunk=20)

# %% [markdown]
# ## Build for the iCEBreaker
#
# Synthesis, place & route and packing with the YoWASP (or system) tools; the first run of a
# YoWASP tool compiles it once, which the progress line announces.

# %%
report = build(art, boards.get("icebreaker"), Path("build/notebook/icebreaker"), artifact_path="notebook")
report

# %%
report["resources"]["lut"], report["timing"]["fmax_mhz"]
