"""The boot loader (hw.gateware.flash) against the W25Q128 model (hw.rtlsim.spi_flash), in Amaranth's
simulator, at every read width: good images arrive word for word, and every corrupted flash ends in
the status that the software model (hw.link.image.unpack) names for the same bytes."""
import zlib

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.gateware import flash as flash_module
from hw.gateware.flash import WIDTHS, FlashLoader, boot_cycles, clocks_per_byte
from hw.link import image
from hw.link.image import LoadStatus
from hw.rtlsim.spi_flash import (FAST_READ, FAST_READ_DUAL, FAST_READ_QUAD, RELEASE_POWER_DOWN, WRITE_ENABLE_VOLATILE,
                                 WRITE_STATUS_2, SPIFlash)

CLK_HZ = 24e6
DIGEST = 0x1234ABCD


# The commands each width sends: the volatile QE write only before a quad read.
COMMANDS = {1: [RELEASE_POWER_DOWN, FAST_READ], 2: [RELEASE_POWER_DOWN, FAST_READ_DUAL],
            4: [RELEASE_POWER_DOWN, WRITE_ENABLE_VOLATILE, WRITE_STATUS_2, FAST_READ_QUAD]}


def step_flash(ctx, dut, flash: SPIFlash, cycle: int) -> None:
    """The flash model's answer to the reader's pins after a clock edge."""
    spi = dut.spi
    ctx.set(spi.i, flash.step(cycle * 1e9 / CLK_HZ, ctx.get(spi.cs), ctx.get(spi.sck), ctx.get(spi.o), ctx.get(spi.oe)))


def boot(flash_bytes: bytes, n_words: int, *, width: int = 4, offset: int = image.FLASH_OFFSET, digest: int = DIGEST,
         ready_every: int = 1, powered_down: bool = True):
    """(status, words received, cycles until the verdict, flash model) of one boot."""
    dut = FlashLoader(n_words=n_words, digest=digest, clk_hz=CLK_HZ, width=width, offset=offset)
    flash = SPIFlash({offset: flash_bytes}, powered_down=powered_down)
    words, result = [], {}
    sim = Simulator(dut)
    sim.add_clock(1 / CLK_HZ)

    async def bench(ctx):
        for cycle in range(1, 40 * (len(flash_bytes) + 64) + dut.wake_cycles):
            ctx.set(dut.load.ready, cycle % ready_every == 0)
            if ctx.get(dut.load.valid) and ctx.get(dut.load.ready):  # taken at the coming edge
                words.append(ctx.get(dut.load.payload))
            await ctx.tick()
            step_flash(ctx, dut, flash, cycle)
            if ctx.get(dut.status) != LoadStatus.LOADING:
                result.update(status=LoadStatus(ctx.get(dut.status)), cycles=cycle)
                for _ in range(40):  # nothing moves after the verdict
                    await ctx.tick()
                    assert not ctx.get(dut.load.valid) and not ctx.get(dut.spi.cs)
                return

    sim.add_testbench(bench)
    sim.run()
    assert result, "the loader gave no verdict"
    return result["status"], np.array(words, np.uint16), result["cycles"], flash


def software_status(flash_bytes: bytes, n_words: int, digest: int = DIGEST) -> LoadStatus:
    try:
        image.unpack(flash_bytes, digest=digest, n_words=n_words)
    except image.ImageError as e:
        return e.status
    return LoadStatus.OK


WORDS = np.random.default_rng(0).integers(0, 1 << 16, 40).astype(np.uint16)
GOOD = image.pack(WORDS, DIGEST)


@pytest.mark.parametrize("width", WIDTHS)
def test_good_image_boots_word_for_word_with_back_pressure(width):
    status, words, cycles, flash = boot(GOOD, len(WORDS), width=width, ready_every=3)
    assert status == LoadStatus.OK
    assert np.array_equal(words, WORDS)
    # The model starts powered down and obeys the read only tRES1 after the wake-up: the loader waited.
    assert flash.commands == COMMANDS[width]
    assert flash.quad_enabled == (width == 4)


@pytest.mark.parametrize("width", WIDTHS)
def test_boot_time_matches_the_cycle_formula(width):
    *_, cycles, _ = boot(GOOD, len(WORDS), width=width)
    assert cycles == boot_cycles(len(WORDS), CLK_HZ, width)


def test_wider_reads_take_fewer_cycles_per_byte():
    """Two images that differ by 100 words: the boots differ by 200 bytes at the width's rate."""
    longer = image.pack(np.resize(WORDS, len(WORDS) + 100), DIGEST)
    for width in WIDTHS:
        short, long = (boot(data, n, width=width)[2] for data, n in ((GOOD, len(WORDS)), (longer, len(WORDS) + 100)))
        assert long - short == 200 * 16 // width == 200 * clocks_per_byte(width)


def test_quad_read_without_the_volatile_quad_enable_is_caught(monkeypatch):
    """A reader that skips the QE write: the model refuses the quad read and HOLD# floats."""
    full = flash_module.prologue
    monkeypatch.setattr(flash_module, "prologue", lambda width, clk_hz: full(width, clk_hz)[:1])  # the wake-up alone
    with pytest.raises(ValueError, match="HOLD#"):
        boot(GOOD, len(WORDS), width=4)


def flipped(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0x10]) + data[pos + 1:]


def erased_tail(data: bytes, keep: int) -> bytes:
    return data[:keep] + b"\xff" * (len(data) - keep)


FAULTS = {
    "payload byte": (flipped(GOOD, image.HEADER_BYTES + 7), LoadStatus.BAD_CRC),
    "crc byte": (flipped(GOOD, len(GOOD) - 1), LoadStatus.BAD_CRC),
    "other model": (image.pack(WORDS, DIGEST ^ 1), LoadStatus.BAD_DIGEST),
    "other length": (image.pack(WORDS[:-1], DIGEST), LoadStatus.BAD_LENGTH),
    "truncated": (erased_tail(GOOD, len(GOOD) - 9), LoadStatus.BAD_CRC),
    "erased": (b"\xff" * len(GOOD), LoadStatus.BAD_MAGIC),
    "magic": (flipped(GOOD, 2), LoadStatus.BAD_MAGIC),
    "version": (flipped(GOOD, 4), LoadStatus.BAD_VERSION),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_ends_in_the_status_the_software_model_names(fault):
    data, status = FAULTS[fault]
    assert software_status(data, len(WORDS)) == status  # the model names it...
    got, words, *_ = boot(data, len(WORDS))
    assert got == status  # ...and the gateware agrees
    if status in (LoadStatus.BAD_MAGIC, LoadStatus.BAD_VERSION, LoadStatus.BAD_DIGEST, LoadStatus.BAD_LENGTH):
        assert words.size == 0  # a refused header writes nothing into SPRAM


def test_header_fields_are_read_little_endian_as_documented():
    """The header written by hand from the docstring's table, with a CRC from zlib: the loader takes it."""
    words = np.array([0x0102, 0xFFFE], np.uint16)
    body = b"SNNI" + bytes([1, 0, 0, 0]) + DIGEST.to_bytes(4, "little") + bytes([2, 0, 0, 0]) + bytes([2, 1, 0xFE, 0xFF])
    data = body + zlib.crc32(body).to_bytes(4, "little")
    assert data == image.pack(words, DIGEST)
    status, got, *_ = boot(data, 2)
    assert status == LoadStatus.OK and got.tolist() == words.tolist()


@pytest.mark.parametrize("seed", range(3))
def test_random_flips_agree_with_the_software_model(seed):
    rng = np.random.default_rng(seed)
    data = flipped(GOOD, int(rng.integers(0, len(GOOD))))
    got, *_ = boot(data, len(WORDS))
    assert got == software_status(data, len(WORDS))
    assert got != LoadStatus.OK


@pytest.mark.parametrize("width", WIDTHS)
def test_image_elsewhere_in_the_flash(width):
    status, words, *_ = boot(GOOD, len(WORDS), width=width, offset=0x2_3456)
    assert status == LoadStatus.OK and np.array_equal(words, WORDS)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_words=0), "n_words"), (dict(n_words=image.MAX_WORDS + 1), "n_words"),
    (dict(digest=-1), "digest"), (dict(digest=1 << 32), "digest"),
    (dict(offset=(1 << 24) - 10), "offset"), (dict(clk_hz=0), "clk_hz"), (dict(width=3), "width"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlashLoader(**{"n_words": 4, "digest": 0, "clk_hz": CLK_HZ, "width": 4, **kwargs})


def read_block(flash_bytes: bytes, starts: int = 1, offset: int = 0x20_0000, width: int = 4):
    """(statuses, words, trailers) of `starts` reads by a restartable loader of any length (the
    benchmark's sample block reader), each begun by a `start` pulse once the last has ended."""
    dut = FlashLoader(n_words=None, digest=DIGEST, clk_hz=CLK_HZ, width=width, offset=offset, magic=b"SNNB",
                      restart=True)
    flash = SPIFlash({offset: flash_bytes})
    got = {"status": [], "words": [], "trailer": []}
    sim = Simulator(dut)
    sim.add_clock(1 / CLK_HZ)

    async def bench(ctx):
        ctx.set(dut.load.ready, 1)
        for _ in range(20):  # without a start pulse nothing happens
            await ctx.tick()
            assert ctx.get(dut.status) == LoadStatus.NONE and not ctx.get(dut.spi.cs)
        for cycle in range(1, 40 * (len(flash_bytes) + 64) * starts + 2 * starts * dut.wake_cycles):
            ctx.set(dut.start, ctx.get(dut.status) not in (LoadStatus.LOADING,) and len(got["status"]) < starts
                    and not ctx.get(dut.load.valid))
            if ctx.get(dut.load.valid):
                got["words"].append(ctx.get(dut.load.payload))
            before = ctx.get(dut.status)
            await ctx.tick()
            step_flash(ctx, dut, flash, cycle)
            if before == LoadStatus.LOADING and ctx.get(dut.status) != LoadStatus.LOADING:
                got["status"].append(LoadStatus(ctx.get(dut.status)))
                got["trailer"].append(ctx.get(dut.trailer))
                if len(got["status"]) == starts:
                    return

    sim.add_testbench(bench)
    sim.run()
    return got["status"], np.array(got["words"], np.uint16), got["trailer"], flash


@pytest.mark.parametrize("width", WIDTHS)
def test_restartable_loader_reads_a_block_of_any_length_on_every_start(width):
    words = np.arange(300, 337, dtype=np.uint16)
    block = image.pack(words, DIGEST, magic=b"SNNB", max_words=1000)
    statuses, got, trailers, flash = read_block(block, starts=2, width=width)
    assert statuses == [LoadStatus.OK, LoadStatus.OK]
    assert np.array_equal(got, np.concatenate([words, words]))
    assert trailers == [int.from_bytes(block[-4:], "little")] * 2
    assert flash.commands == COMMANDS[width] * 2


@pytest.mark.parametrize("data, status", [
    (image.pack(np.arange(4), DIGEST), LoadStatus.BAD_MAGIC),  # a weight image is no sample block
    (image.header(DIGEST, 0, b"SNNB") + bytes(4), LoadStatus.BAD_LENGTH),
    (flipped(image.pack(np.arange(9), DIGEST, magic=b"SNNB"), 20), LoadStatus.BAD_CRC),
])
def test_restartable_loader_refuses_what_the_software_model_refuses(data, status):
    with pytest.raises(image.ImageError, match=status.name):
        image.unpack(data, digest=DIGEST, magic=b"SNNB", max_words=1 << 20)
    statuses, words, *_ = read_block(data)
    assert statuses == [status]
    if status != LoadStatus.BAD_CRC:
        assert words.size == 0
