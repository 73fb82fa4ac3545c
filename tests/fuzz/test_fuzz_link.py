"""The host link against a fake board whose replies are garbled, cut or replaced by garbage:
every session ends in a ProtocolError or in spikes that the replies really encode, never a hang
or another exception."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hw.link import protocol as P
from hw.link.host import Link
from sim import reference
from sim.testing import random_artifact

FEW, MANY = 300, 2000
SIZES = [pytest.param(FEW, id="few"), pytest.param(MANY, id="many", marks=pytest.mark.slow)]
FIFO = 4  # small, so a step's events are split into several words and credits matter


def cases(n):
    return settings(settings.get_profile("fuzz"), max_examples=n)


class FakeBoard:
    """A serial port that answers with a fixed byte stream; read(n) returns at most n bytes (fewer at the end, like a timeout)."""

    def __init__(self, replies: bytes):
        self.replies, self.pos = replies, 0

    def write(self, data):
        pass

    def read(self, n):
        chunk = self.replies[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


@pytest.fixture(scope="module")
def session():
    art = random_artifact(np.random.default_rng(1), [7, 6, 9], density=0.6, input_max_count=2, steps=5)
    counts = np.random.default_rng(2).integers(0, 3, (5, 7))
    spikes = reference.run(art, counts).spikes[-1]
    info = P.Info(n_in=7, n_out=9, fifo_depth=FIFO, clock_hz=12_000_000, model=P.model_digest(art))
    stream = bytes([P.REPLY_ACK])  # CLEAR
    for t, step in enumerate(counts):
        chunks = P.step_chunks(step, info.n_in, FIFO)
        stream += bytes([P.REPLY_ACK]) * (len(chunks) - 1)  # SYNC between the chunks of a step
        stream += (bytes([P.REPLY_STEP]) + np.packbits(spikes[t], bitorder="little").tobytes()
                   + (100 + t).to_bytes(P.CYCLE_BYTES, "little"))
    return info, counts, spikes, stream


def run_link(info, counts, stream):
    link = Link(FakeBoard(stream))
    link.board = info
    return link.run_sample(counts)


def test_the_clean_stream_decodes_to_the_reference(session):
    info, counts, spikes, stream = session
    got, cycles = run_link(info, counts, stream)
    assert np.array_equal(got, spikes) and cycles.tolist() == [100, 101, 102, 103, 104]


@pytest.mark.parametrize("n", SIZES)
def test_garbled_replies(session, n):
    info, counts, spikes, stream = session

    @cases(n)
    @given(flips=st.lists(st.tuples(st.integers(0, len(stream) - 1), st.integers(1, 255)), max_size=3),
           cut=st.one_of(st.none(), st.integers(0, len(stream) - 1)),
           garbage=st.one_of(st.none(), st.binary(max_size=64)))
    def check(flips, cut, garbage):
        raw = bytearray(stream if garbage is None else garbage)
        for pos, mask in flips:
            if pos < len(raw):
                raw[pos] ^= mask
        raw = bytes(raw[:cut])
        try:
            got, _ = run_link(info, counts, raw)
        except P.ProtocolError:
            return
        # Accepted: every reply parsed, so the spikes are the ones the (possibly flipped) bytes carry;
        # only flips inside spike or cycle payloads can be accepted.
        assert garbage is not None or len(raw) == len(stream)
        assert got.shape == spikes.shape and set(np.unique(got)) <= {0, 1}

    check()
