"""The generator: an artifact in, Amaranth gateware out.

`plan` (widths and memory contents per layer, checked before any elaboration), `layer` (one
event-driven LIF layer), `core` (the layers chained: `Core`), `uart` (the core behind the board's
serial link), `perf` (the cycle model of the core, a software model beside the gateware).
"""
