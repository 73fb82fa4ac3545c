"""The board top with and without a weight image (no tools run: only Amaranth's build plan)."""
import pytest

import boards
from boards.clocks import plan as plan_clock
from hw.board.build import BoardTop, program_commands
from hw.gateware.core import Core
from hw.gateware.system import System
from hw.gateware.uart import UARTBridge
from hw.link import image
from hw.link import protocol as P
from sim.artifact import load

# The iCEBreaker's configuration flash, from its schematic: CS# 16, SCK 15, IO0 (MOSI) 14, IO1 (MISO) 17,
# IO2 (WP#) 12, IO3 (HOLD#) 13: all four data lines, for the quad read.
FLASH_PINS = {"cs__io": 16, "clk__io": 15, "dq__io[0]": 14, "dq__io[1]": 17, "dq__io[2]": 12, "dq__io[3]": 13}


def build_files(spram, bench: bool = False) -> dict:
    art = load()
    board = boards.get("icebreaker")
    pll = plan_clock(board, board.target_hz)
    bridge = UARTBridge(art, clk_hz=pll.out_hz, core=Core(art, spram=spram), bench=bench)
    top = System(bridge, flash_width=board.flash_width) if spram or bench else bridge
    files = board.platform().prepare(BoardTop(board, pll, top), name="snn_top", emit_src=False).files
    return {"pcf": files["snn_top.pcf"], "il": files["snn_top.il"], "system": top}


def test_model_without_spram_has_no_flash_pins_and_no_system():
    built = build_files(())
    assert "spi_flash" not in built["pcf"]
    assert "snn_top.bridge" in built["il"] and "snn_top.system" not in built["il"]  # the hierarchy of old builds
    with pytest.raises(ValueError, match="nothing reads the flash"):
        System(built["system"], flash_width=4)


def test_benchmark_without_spram_drives_the_flash_with_only_the_sample_reader():
    built = build_files((), bench=True)
    for name, pin in FLASH_PINS.items():
        assert f"set_io spi_flash_4x_0__{name} {pin}\n" in built["pcf"]
    system = built["system"]
    assert system.image is None and system.loader is None and system.bench.restart


def test_model_with_spram_drives_the_configuration_flash_and_carries_its_image():
    built = build_files("all")
    for name, pin in FLASH_PINS.items():
        assert f"set_io spi_flash_4x_0__{name} {pin}\n" in built["pcf"]
    system = built["system"]
    assert system.flash_width == system.loader.width == 4  # quad: the iCEBreaker wires IO2/IO3
    words, digest = image.unpack(system.image)
    assert digest == P.model_digest(load()) and len(words) == system.bridge.image_words == system.loader.n_words


@pytest.mark.parametrize("offset, arg", [(1 << 20, "1M"), (3 << 20, "3M"), (0x50000, "320k"), (0x50001, "0x50001")])
def test_program_commands_name_the_offset_as_iceprog_reads_it(offset, arg):
    result = {"bitstream": {"path": "b/snn_top.bin"},
              "image": {"path": "b/model.img", "bytes": 36, "words": 8, "offset": offset, "boot_ms": 0.01}}
    lines = program_commands(result).splitlines()
    assert lines[-2:] == ["  iceprog b/snn_top.bin", f"  iceprog -o {arg} b/model.img"]


def test_program_commands_put_the_sample_block_at_2_mib():
    result = {"bitstream": {"path": "b/snn_top.bin"},
              "bench": {"path": "b/samples.img", "bytes": 900, "samples": 3, "offset": 2 << 20}}
    lines = program_commands(result).splitlines()
    assert lines[-2:] == ["  iceprog b/snn_top.bin", "  iceprog -o 2M b/samples.img"]
    assert "python -m hw.run --bench 3" in lines[0]
