"""Board builds: fit check, synthesis, place and route, bitstream and report.

`fit` (will the model fit the board, before any tool runs), `toolchain` (yosys, nextpnr and the
packers, found and run), `report` (the tools' reports turned into the build report), `build`
(`python -m hw.build`).
"""
