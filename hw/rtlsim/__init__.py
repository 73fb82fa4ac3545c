"""RTL simulation: the generated Verilog on Verilator or Icarus under cocotb, checked against sim/.

`runner` (build and run cocotb benches, cached per design), `bench` (the cocotb bench of the
core), `cosim` (simulate an artifact's core on event counts), `verify` (`python -m hw.verify`),
`board` and `board_bench` (the whole board: System, flash model `spi_flash`, the host's Link on
the UART pins through `uart_port`).
"""
