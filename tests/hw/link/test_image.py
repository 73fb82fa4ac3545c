"""The flash image format (hw.link.image): round trip and the refusal of every bad image."""
import zlib

import numpy as np
import pytest

from hw.link import image
from hw.link.image import ImageError, LoadStatus

WORDS = np.array([0, 1, 0xFFFF, 0x1234, 0x8000], np.uint16)


def test_round_trip_and_layout():
    data = image.pack(WORDS, 0xDEADBEEF)
    assert len(data) == image.HEADER_BYTES + 2 * WORDS.size + image.CRC_BYTES
    assert data[:4] == b"SNNI" and data[8:12] == bytes([0xEF, 0xBE, 0xAD, 0xDE]) and data[12:16] == bytes([5, 0, 0, 0])
    assert data[16:18] == bytes([0, 0]) and data[20:22] == bytes([0xFF, 0xFF])  # words little-endian
    assert int.from_bytes(data[-4:], "little") == zlib.crc32(data[:-4])
    words, digest = image.unpack(data + b"\xff" * 7, digest=0xDEADBEEF, n_words=5)  # bytes after it: ignored
    assert digest == 0xDEADBEEF and words.dtype == np.uint16 and words.tolist() == WORDS.tolist()


@pytest.mark.parametrize("mutate, kwargs, status", [
    (lambda d: b"\xff" * len(d), {}, LoadStatus.BAD_MAGIC),
    (lambda d: d[:10], {}, LoadStatus.BAD_MAGIC),
    (lambda d: d[:4] + bytes([2, 0]) + d[6:], {}, LoadStatus.BAD_VERSION),
    (lambda d: d, {"digest": 1}, LoadStatus.BAD_DIGEST),
    (lambda d: d, {"n_words": 4}, LoadStatus.BAD_LENGTH),
    (lambda d: d[:12] + bytes(4) + d[16:], {}, LoadStatus.BAD_LENGTH),
    (lambda d: d[:-1], {}, LoadStatus.BAD_CRC),
    (lambda d: d[:17] + bytes([d[17] ^ 1]) + d[18:], {}, LoadStatus.BAD_CRC),
])
def test_bad_images_name_their_status(mutate, kwargs, status):
    with pytest.raises(ImageError, match=status.name) as e:
        image.unpack(mutate(image.pack(WORDS, 7)), **kwargs)
    assert e.value.status == status


@pytest.mark.parametrize("words", [[], [1 << 16], [-1], [[1, 2]], np.zeros(image.MAX_WORDS + 1)])
def test_pack_refuses_what_no_loader_reads(words):
    with pytest.raises(ValueError, match="flash image"):
        image.pack(words, 0)
