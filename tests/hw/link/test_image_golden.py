"""The flash image (hw.link.image) at its edges, with bytes and messages written out by hand from the
layout in its docstring: the sizes the loader accepts, the reserved half-word it ignores, and the
error line a user reads for each refusal."""
import zlib

import numpy as np
import pytest

from hw.link import image
from hw.link.image import ImageError, LoadStatus

MAX_WORDS = 65536  # the UP5K's four 16384-word SPRAMs


def with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_one_word_image_byte_for_byte():
    body = b"SNNI" + bytes([1, 0, 0, 0]) + bytes([0x78, 0x56, 0x34, 0x12]) + bytes([1, 0, 0, 0]) + bytes([0x34, 0x12])
    assert image.pack([0x1234], 0x12345678) == with_crc(body)
    # The first payload byte (0x34) follows the length field; a length read one byte too far would be huge.
    words, digest = image.unpack(with_crc(body), digest=0x12345678, n_words=1)
    assert words.tolist() == [0x1234] and digest == 0x12345678


def test_full_four_spram_image_round_trips():
    words = np.arange(MAX_WORDS, dtype=np.uint16)
    data = image.pack(words, 1)
    assert len(data) == 16 + 2 * MAX_WORDS + 4 and data[12:16] == bytes([0, 0, 1, 0])
    assert np.array_equal(image.unpack(data, n_words=MAX_WORDS)[0], words)


def test_reserved_half_word_is_not_checked():
    # hw/gateware/flash.py skips bytes 6..7; the software model of the loader must too.
    body = b"SNNI" + bytes([1, 0, 0xAB, 0xCD]) + bytes(4) + bytes([2, 0, 0, 0]) + bytes([1, 0, 2, 0])
    assert image.unpack(with_crc(body))[0].tolist() == [1, 2]


def test_header_without_payload_or_crc_is_truncated_not_missing():
    # 16 bytes with the magic are an image cut short after its header: BAD_CRC, not "no image".
    with pytest.raises(ImageError, match=r"CRC-32 mismatch \(16 bytes for 5 words: corrupt or truncated\) "
                                         r"\(BAD_CRC\)$") as e:
        image.unpack(image.pack(np.arange(5), 7)[:16])
    assert e.value.status == LoadStatus.BAD_CRC


@pytest.mark.parametrize("data, kwargs, message", [
    (b"\xff" * 40, {}, r"^flash image: no image \(magic ffffffff, expected 534e4e49: erased flash or wrong offset\?\) "
                       r"\(BAD_MAGIC\)$"),
    (b"", {}, r"^flash image: no image \(magic missing, expected 534e4e49"),
    (with_crc(b"SNNI" + bytes([2, 0, 0, 0]) + bytes(4) + bytes([1, 0, 0, 0, 0, 0])), {},
     r"^flash image: format version 2, this build reads 1 \(BAD_VERSION\)$"),
    (with_crc(b"SNNI" + bytes([1, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0])), {"digest": 0xABC},
     r"^flash image: image of model 00000007, the bitstream runs 00000abc \(BAD_DIGEST\)$"),
    (with_crc(b"SNNI" + bytes([1, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0])), {"n_words": 4},
     r"^flash image: 1 words, expected 4 \(BAD_LENGTH\)$"),
    (with_crc(b"SNNI" + bytes([1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0])), {},
     r"^flash image: 0 words, expected 1\.\.65536 \(BAD_LENGTH\)$"),
    (with_crc(b"SNNI" + bytes([1, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0]))[:-1], {},
     r"^flash image: CRC-32 mismatch \(21 bytes for 1 words: corrupt or truncated\) \(BAD_CRC\)$"),
])
def test_refusals_say_what_the_user_sees(data, kwargs, message):
    with pytest.raises(ImageError, match=message):
        image.unpack(data, **kwargs)


@pytest.mark.parametrize("words, message", [
    ([[1, 2]], r"^flash image: words must be a 1-D array of 16-bit values$"),
    ([70000], r"^flash image: words must be a 1-D array of 16-bit values$"),
    ([], r"^flash image: 0 words, expected 1\.\.65536$"),
    (np.zeros(MAX_WORDS + 1, np.uint16), r"^flash image: 65537 words, expected 1\.\.65536$"),
])
def test_pack_refusals_say_why(words, message):
    with pytest.raises(ValueError, match=message):
        image.pack(words, 0)


@pytest.mark.parametrize("offset, at", [(1 << 20, "1M"), (3 << 20, "3M"), (2048, "2k"), (0x30000, "192k"),
                                        (1536, "0x600"), (0x1234, "0x1234")])
def test_flash_command_suffixes(offset, at):
    assert image.flash_command("build/x.img", offset) == f"iceprog -o {at} build/x.img"


def test_room_before_the_flash_ends():
    # 16 MiB less the offset, the 16-byte header and the 4-byte CRC, in 2-byte words
    assert image.max_words_at(2 << 20) == (16 * 2**20 - 2 * 2**20 - 20) // 2 == 7_340_022


def test_another_payload_in_the_same_format():
    data = image.pack(np.array([0x1234]), 0x12345678, magic=b"SNNB", max_words=1)
    assert data[:4] == b"SNNB" and data == with_crc(b"SNNB" + bytes([1, 0, 0, 0, 0x78, 0x56, 0x34, 0x12, 1, 0, 0, 0,
                                                                     0x34, 0x12]))
    assert image.unpack(data, magic=b"SNNB", max_words=1)[1] == 0x12345678
    with pytest.raises(ImageError, match=r"magic 534e4e42, expected 534e4e49"):
        image.unpack(data)
    with pytest.raises(ValueError, match=r"^flash image: 2 words, expected 1\.\.1$"):
        image.pack(np.array([1, 2]), 0, magic=b"SNNB", max_words=1)
    with pytest.raises(ImageError, match=r"2 words, expected 1\.\.1 \(BAD_LENGTH\)"):
        image.unpack(image.pack(np.array([1, 2]), 0, magic=b"SNNB"), magic=b"SNNB", max_words=1)
