"""Hardware: everything from an artifact to a running board.

    hw.gateware   the generator: plan, LIF layer, core, UART bridge, cycle model
    hw.rtlsim     RTL simulation of the generated Verilog (Verilator, Icarus) against sim/
    hw.board      fit check, synthesis, place and route, bitstream, report
    hw.link       the UART wire format and the host driver

Commands: `python -m hw.build`, `hw.verify`, `hw.run` (thin entry points into the packages above)
and `hw.sweep` (the experiment lives in `experiments.sweep`; it orchestrates compress, sim and hw).
"""
