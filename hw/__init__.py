"""Hardware: the Amaranth LIF core generated from an artifact, its co-simulation and checks.

`hw.core.Core` (the component, ports in docs/hw-core.md), `hw.plan` (widths, storage and memory
contents, checked before elaboration), `hw.cosim` (cocotb on Verilator/Icarus vs sim.reference),
`hw.perf` (cycle model), `python -m hw.verify` (CLI).
"""
