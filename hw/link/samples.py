"""The sample block of the on-board benchmark: test samples in the board's flash, next to the model.

It is a flash image (hw/link/image.py) with the magic b"SNNB" and any length: the header checks that
the block is meant for the bitstream's model (digest), the CRC-32 trailer that it arrived whole, and
the trailer tells the host which block the board ran. The payload is the byte stream the host would
send over the UART for the same samples (hw/link/protocol.py): per sample CLEAR, then every step as
`step_chunks` encodes it, with the chunks cut to `bench_credit(fifo_depth)` words so the board's
flash reader keeps room for a bitmap's expansion; a SYNC pads it to whole 16-bit words (the
benchmark takes SYNC silently). The board feeds the payload through its UART word decoder, so the
two paths share one decoder and one encoding. The labels stay on the host.
"""
from __future__ import annotations

import numpy as np

from . import image
from . import protocol as P

MAGIC = b"SNNB"
OFFSET = 2 << 20  # 2 MiB: above the bitstream and a 1 MiB weight image (the largest is 128 KiB)
MAX_WORDS = image.max_words_at(OFFSET)


def payload(counts: np.ndarray, fifo_depth: int) -> bytes:
    """The UART byte stream of samples `counts` [T, B, n_in] for a board with `fifo_depth`."""
    counts = np.asarray(counts)
    if counts.ndim != 3:
        raise ValueError(f"counts: expected [T, B, n_in], got shape {counts.shape}")
    credit = P.bench_credit(fifo_depth)
    out = bytearray()
    for b in range(counts.shape[1]):
        out.append(P.CLEAR)
        for step in counts[:, b]:
            out += b"".join(c.data for c in P.step_chunks(step, counts.shape[2], credit))
    if len(out) % 2:
        out.append(P.SYNC)
    return bytes(out)


def pack(counts: np.ndarray, digest: int, fifo_depth: int) -> bytes:
    """The sample block of `counts` [T, B, n_in] for the model with `digest`; refuses one that the
    flash cannot hold above OFFSET."""
    data = payload(counts, fifo_depth)
    if len(data) // 2 > MAX_WORDS:
        raise ValueError(f"{counts.shape[1]} samples take {len(data)} bytes, the flash holds {2 * MAX_WORDS} "
                         f"above {OFFSET:#x}: use fewer samples")
    return image.pack(np.frombuffer(data, "<u2"), digest, magic=MAGIC, max_words=MAX_WORDS)


def trailer(block: bytes) -> int:
    """The CRC-32 that ends `block` (what the board reports having run)."""
    return int.from_bytes(block[-image.CRC_BYTES:], "little")


def unpack(block: bytes, digest: int | None = None) -> bytes:
    """The payload of a sample block; raises image.ImageError with the status the board reports."""
    words, _ = image.unpack(block, digest=digest, magic=MAGIC, max_words=MAX_WORDS)
    return words.astype("<u2").tobytes()
