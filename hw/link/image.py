"""The weight image that the boot loader (hw/gateware/flash.py) reads from the board's SPI flash.

Layout, all little-endian (docs/build.md):

    offset  size
    0       4     magic b"SNNI"
    4       2     format version (VERSION)
    6       2     reserved, 0
    8       4     model digest (hw.link.protocol.model_digest of the artifact the bitstream was built for)
    12      4     payload length in 16-bit words
    16      2*n   payload: the SPRAM words in address order
    16+2n   4     CRC-32 (IEEE 802.3, as zlib.crc32) of everything before it

`unpack` is the software model of the loader: it accepts exactly what the gateware accepts and names
the same failure (`LoadStatus`), which tests/hw/link/test_flash.py checks against the gateware.
"""
from __future__ import annotations

import enum
import zlib

import numpy as np

MAGIC = b"SNNI"
VERSION = 1
HEADER_BYTES = 16
CRC_BYTES = 4
FLASH_OFFSET = 1 << 20  # 1 MiB: above the iCE40 UP5K bitstream (~104 KB) on the configuration flash
MAX_WORDS = 4 * 16384  # the UP5K's four SPRAMs
FLASH_BYTES = 1 << 24  # 24-bit addressing: 16 MiB


def max_words_at(offset: int) -> int:
    """The most payload words an image at byte `offset` can have before the flash ends."""
    return (FLASH_BYTES - offset - HEADER_BYTES - CRC_BYTES) // 2


class LoadStatus(enum.IntEnum):
    """The boot loader's state, as the INFO reply carries it (hw/link/protocol.py)."""
    NONE = 0  # the build has no image: nothing to load
    LOADING = 1
    OK = 2
    BAD_MAGIC = 3  # also an erased flash (all 0xFF) or the wrong offset
    BAD_VERSION = 4
    BAD_DIGEST = 5  # an image of another model
    BAD_LENGTH = 6  # the payload length differs from what the bitstream expects
    BAD_CRC = 7  # a corrupt or truncated image


_HINTS = {
    LoadStatus.LOADING: "still reading the flash; ask again",
    LoadStatus.BAD_MAGIC: "no image at the offset: erased flash? program it with the iceprog -o command hw.build printed",
    LoadStatus.BAD_VERSION: "the image is of another format version: rebuild it with this hw.build",
    LoadStatus.BAD_DIGEST: "the image is of another model than the bitstream: program both from one build",
    LoadStatus.BAD_LENGTH: "the image length differs from the bitstream's: program both from one build",
    LoadStatus.BAD_CRC: "corrupt or truncated image: program it again",
}


def flash_command(path, offset: int) -> str:
    """The iceprog command that writes `path` at byte `offset` of the board's flash (iceprog reads
    `-o` with a k/M suffix)."""
    at = f"{offset >> 20}M" if offset % (1 << 20) == 0 else f"{offset >> 10}k" if offset % 1024 == 0 else f"{offset:#x}"
    return f"iceprog -o {at} {path}"


def load_hint(status: LoadStatus) -> str:
    """What a failed load means and what to do, for the host's error line."""
    return _HINTS[status]


class ImageError(ValueError):
    """An image the loader would refuse; `status` is the status the board would report."""

    def __init__(self, status: LoadStatus, message: str):
        super().__init__(f"flash image: {message} ({status.name})")
        self.status = status


def header(digest: int, n_words: int, magic: bytes = MAGIC) -> bytes:
    return (magic + VERSION.to_bytes(2, "little") + bytes(2) + (digest & 0xFFFF_FFFF).to_bytes(4, "little")
            + n_words.to_bytes(4, "little"))


def pack(words, digest: int, *, magic: bytes = MAGIC, max_words: int = MAX_WORDS) -> bytes:
    """The image of SPRAM words (uint16, address order) for the model with `digest`; `magic` and
    `max_words` name another payload in the same format (hw/link/samples.py)."""
    words = np.asarray(words)
    if words.ndim != 1 or (words.size and (words.min() < 0 or words.max() > 0xFFFF)):
        raise ValueError("flash image: words must be a 1-D array of 16-bit values")
    if not 0 < words.size <= max_words:
        raise ValueError(f"flash image: {words.size} words, expected 1..{max_words}")
    body = header(digest, words.size, magic) + words.astype("<u2").tobytes()
    return body + zlib.crc32(body).to_bytes(CRC_BYTES, "little")


def unpack(image: bytes, *, digest: int | None = None, n_words: int | None = None, magic: bytes = MAGIC,
           max_words: int = MAX_WORDS) -> tuple[np.ndarray, int]:
    """(words uint16, digest) of an image; raises ImageError naming the loader's status.

    `digest`/`n_words`: what the bitstream expects (checked in the loader's order: magic, version,
    digest, length, CRC). Bytes after the CRC are ignored, as the loader never reads them.
    """
    image = bytes(image)
    if len(image) < HEADER_BYTES or image[:4] != magic:
        raise ImageError(LoadStatus.BAD_MAGIC, f"no image (magic {image[:4].hex() or 'missing'}, "
                                               f"expected {magic.hex()}: erased flash or wrong offset?)")
    version = int.from_bytes(image[4:6], "little")
    if version != VERSION:
        raise ImageError(LoadStatus.BAD_VERSION, f"format version {version}, this build reads {VERSION}")
    found = int.from_bytes(image[8:12], "little")
    if digest is not None and found != digest:
        raise ImageError(LoadStatus.BAD_DIGEST, f"image of model {found:08x}, the bitstream runs {digest:08x}")
    length = int.from_bytes(image[12:16], "little")
    if (n_words is not None and length != n_words) or not 0 < length <= max_words:
        raise ImageError(LoadStatus.BAD_LENGTH, f"{length} words, expected {n_words or f'1..{max_words}'}")
    end = HEADER_BYTES + 2 * length
    crc = image[end:end + CRC_BYTES]
    if len(crc) < CRC_BYTES or int.from_bytes(crc, "little") != zlib.crc32(image[:end]):
        raise ImageError(LoadStatus.BAD_CRC, f"CRC-32 mismatch ({len(image)} bytes for {length} words: "
                                             "corrupt or truncated)")
    return np.frombuffer(image, "<u2", length, HEADER_BYTES).astype(np.uint16), found
