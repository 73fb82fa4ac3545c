"""UART link to the LIF core: 8N1 receiver/transmitter, the word decoder and the bridge FSM.

The wire format lives in hw/link/protocol.py (shared with the host); this module is its gateware.
"""
from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hw.link import protocol as P
from hw.link.image import LoadStatus

from .core import Core, Kind
from .flash import STATUS_BITS


class UARTRx(wiring.Component):
    """8N1 receiver. It never waits: a byte is offered for one cycle, so the consumer must always
    be ready (the word decoder is); a bad stop bit raises `framing_error` for one cycle."""

    def __init__(self, divisor: int):
        if divisor < 4:
            raise ValueError(f"divisor: clock/baud must be >= 4, got {divisor}")
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8, always_ready=True)),
                          "framing_error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self.divisor * 3 // 2 + 1))
        bit = Signal(range(9))
        shift = Signal(8)
        m.d.sync += [self.data.valid.eq(0), self.framing_error.eq(0)]
        with m.FSM():
            with m.State("idle"):
                with m.If(~rx):
                    # Sample in the middle of data bit 0: 1.5 bit times after the falling edge.
                    m.d.sync += [timer.eq(self.divisor * 3 // 2 - 1), bit.eq(0)]
                    m.next = "data"
            with m.State("data"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(bit + 1)]
                    with m.If(bit == 8):
                        m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(rx),
                                     self.framing_error.eq(~rx)]
                        m.next = "stop"
                    with m.Else():
                        m.d.sync += shift.eq(Cat(shift[1:], rx))
            with m.State("stop"):
                # Resynchronise on the next falling edge only once the line is idle again.
                with m.If(rx):
                    m.next = "idle"
        return m


class UARTTx(wiring.Component):
    """8N1 transmitter."""

    def __init__(self, divisor: int):
        if divisor < 4:
            raise ValueError(f"divisor: clock/baud must be >= 4, got {divisor}")
        self.divisor = divisor
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        shift = Signal(10, init=1)  # stop, data[7:0], start; shifted out LSB first
        left = Signal(range(11))
        m.d.comb += self.tx.eq(shift[0])
        m.d.comb += self.data.ready.eq(left == 0)
        with m.If(left == 0):
            with m.If(self.data.valid):
                m.d.sync += [shift.eq(Cat(0, self.data.payload, 1)), left.eq(10),
                             timer.eq(self.divisor - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [shift.eq(Cat(shift[1:], 1)), left.eq(left - 1), timer.eq(self.divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m


def word_layout(n_in: int) -> data.StructLayout:
    """A decoded host word: an input address (event=1) or a command code (event=0)."""
    return data.StructLayout({"event": 1, "value": max(P.addr_bits(n_in), 2)})


class Mode(enum.Enum, shape=2):
    IDLE = 0
    EVENT = 1  # continuation bytes of an event address follow
    START = 2  # continuation bytes of a bitmap's first block follow
    BLOCKS = 3  # bitmap block bytes may follow


class WordDecoder(wiring.Component):
    """Bytes of the self-synchronising host format -> event/command words (hw/link/protocol.py).

    A bitmap block byte is expanded into one event per set bit, one per cycle: 7 cycles, done
    before the next byte arrives (a UART byte takes 10 bits of >= 4 clocks each).

    Flags pulse for one cycle: `framing` (continuation byte without a head, a head that cuts a
    word short, or an unknown command), `overrun` (word lost: the output was not ready) and
    `range` (address >= n_in, dropped).
    """

    def __init__(self, n_in: int):
        self.n_in = n_in
        self.cont = P.cont_bytes(n_in)
        self.start = P.start_bytes(n_in)
        super().__init__({"bytes": In(stream.Signature(8, always_ready=True)),
                          "words": Out(stream.Signature(word_layout(n_in))),
                          "framing": Out(1), "overrun": Out(1), "range": Out(1)})

    def elaborate(self, platform):
        m = Module()
        start_width = P.CONT_BITS * self.start
        value = Signal(max(P.addr_bits(self.n_in), start_width))  # address or first block being read
        left = Signal(range(max(self.cont, self.start) + 1))  # continuation bytes still expected
        mode = Signal(Mode)
        base = Signal(start_width + 3)  # input of the next block byte's bit 0
        bits = Signal(P.BLOCK_BITS)  # the block byte being expanded; bits[0] is input `addr`
        addr = Signal(start_width + 3)
        byte = self.bytes.payload
        m.d.sync += [self.framing.eq(0), self.overrun.eq(0), self.range.eq(0)]
        with m.If(self.words.ready):
            m.d.sync += self.words.valid.eq(0)

        def finish(address):
            with m.If(address >= self.n_in):
                m.d.sync += self.range.eq(1)
            with m.Elif(self.words.valid & ~self.words.ready):
                m.d.sync += self.overrun.eq(1)
            with m.Else():
                m.d.sync += [self.words.payload.event.eq(1), self.words.payload.value.eq(address),
                             self.words.valid.eq(1)]

        with m.If(bits.any()):
            m.d.sync += [bits.eq(bits >> 1), addr.eq(addr + 1)]
            with m.If(bits[0]):
                finish(addr)

        cut_short = (mode == Mode.EVENT) | (mode == Mode.START)
        with m.If(self.bytes.valid):
            with m.If(byte[7] & byte[6]):  # command (or a bitmap's head)
                m.d.sync += [mode.eq(Mode.IDLE), self.framing.eq(cut_short)]
                with m.If(byte == P.BITMAP):
                    m.d.sync += [mode.eq(Mode.START), value.eq(0), left.eq(self.start)]
                with m.Elif(byte[:6] >= len(P.COMMANDS)):
                    m.d.sync += self.framing.eq(1)
                with m.Elif(self.words.valid & ~self.words.ready):
                    m.d.sync += self.overrun.eq(1)
                with m.Else():
                    m.d.sync += [self.words.payload.event.eq(0), self.words.payload.value.eq(byte[:6]),
                                 self.words.valid.eq(1)]
            with m.Elif(byte[7]):  # head of an event word
                m.d.sync += self.framing.eq(cut_short)
                if self.cont == 0:
                    m.d.sync += mode.eq(Mode.IDLE)
                    finish(byte[:6])
                else:
                    m.d.sync += [value.eq(byte[:6]), left.eq(self.cont), mode.eq(Mode.EVENT)]
            with m.Else():  # continuation byte
                nxt = Cat(byte[:7], value)
                with m.Switch(mode):
                    with m.Case(Mode.IDLE):  # without a head
                        m.d.sync += self.framing.eq(1)
                    with m.Case(Mode.EVENT):
                        m.d.sync += [value.eq(nxt), left.eq(left - 1)]
                        with m.If(left == 1):
                            m.d.sync += mode.eq(Mode.IDLE)
                            finish(nxt)
                    with m.Case(Mode.START):
                        m.d.sync += [value.eq(nxt), left.eq(left - 1)]
                        with m.If(left == 1):
                            m.d.sync += [mode.eq(Mode.BLOCKS), base.eq(nxt[:start_width] * P.BLOCK_BITS)]
                    with m.Case(Mode.BLOCKS):
                        m.d.sync += [bits.eq(byte[:7]), addr.eq(base), base.eq(base + P.BLOCK_BITS)]
        return m


FIFO_DEPTH = 256  # host words buffered on the board: one iCE40 EBR (256 x 16) for up to 2^15 inputs


class Reply(enum.Enum, shape=2):
    STEP = 0
    ACK = 1
    INFO = 2


class UARTBridge(wiring.Component):
    """The LIF core behind a UART: `rx`/`tx` are the board's serial pins.

    Host words go rx -> decoder -> FIFO (`fifo_depth` words: the host's credit) -> FSM, which feeds
    each chunk of events to the core once its closing command has arrived, turns STEP/CLEAR into
    the core's END/CLEAR beats, collects the step's output spikes into a bit mask and sends the
    reply (hw/link/protocol.py).

    `core`: the core to drive (default `Core(art)`). One with a boot image (`core.image_words`)
    adds two ports: `load` (the image words, passed to the core) and `load_status` (the boot
    loader's `LoadStatus`, hw/gateware/flash.py). Until it is OK the core is held: events are
    dropped, STEP and CLEAR are answered without running the core and with the HELD flag, and INFO
    carries the status.
    """

    def __init__(self, art, *, clk_hz: float, baud: int = P.DEFAULT_BAUD, fifo_depth: int = FIFO_DEPTH,
                 core: Core | None = None):
        if fifo_depth < 2:
            raise ValueError(f"fifo_depth: must be >= 2, got {fifo_depth}")
        self.divisor = P.uart_divisor(clk_hz, baud)
        self.core = core or Core(art)
        self.image_words = self.core.image_words
        self.n_in, self.n_out = art.n_in, art.n_out
        self.info = P.Info(n_in=art.n_in, n_out=art.n_out, fifo_depth=fifo_depth, clock_hz=round(clk_hz),
                           model=P.model_digest(art))
        ports = {"rx": In(1, init=1), "tx": Out(1, init=1)}
        if self.image_words:
            ports.update(load=In(stream.Signature(16)), load_status=In(STATUS_BITS, init=LoadStatus.LOADING))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.rx = rx = UARTRx(self.divisor)
        m.submodules.tx = tx = UARTTx(self.divisor)
        m.submodules.decoder = dec = WordDecoder(self.n_in)
        layout = word_layout(self.n_in)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=layout.size, depth=self.info.fifo_depth)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     fifo.w_data.eq(dec.words.payload), fifo.w_en.eq(dec.words.valid),
                     dec.words.ready.eq(fifo.w_rdy)]
        wiring.connect(m, rx.data, dec.bytes)
        word = data.View(layout, fifo.r_data)
        # Events wait in the FIFO until the command that closes their chunk (STEP/SYNC) is there
        # too, so the core gets them back to back and its cycle counter measures the core, not
        # the UART (the host never sends more than a FIFO's worth per chunk).
        commands = Signal(range(self.info.fifo_depth + 1))  # command words in the FIFO
        written = dec.words.valid & dec.words.ready & ~dec.words.payload.event
        taken = fifo.r_en & fifo.r_rdy & ~word.event
        m.d.sync += commands.eq(commands + written - taken)

        flags = Signal(3)  # errors since the last reply: FRAMING, OVERRUN, RANGE (protocol bit order)
        news = Cat(rx.framing_error | dec.framing, dec.overrun, dec.range)
        mask = Signal(self.n_out)  # output spikes of the step
        reply = Signal(Reply)
        header = Signal(8)
        pos = Signal(range(max(P.step_reply_len(self.n_out), P.INFO_REPLY_LEN)))
        m.d.sync += flags.eq(flags | news)

        info_code, status = P.REPLY_INFO, flags
        if self.image_words:
            held = Signal()  # the core's image has not (or not correctly) loaded
            wiring.connect(m, wiring.flipped(self.load), core.load)
            m.d.comb += [held.eq(self.load_status != LoadStatus.OK), core.hold.eq(held)]
            info_code, status = P.REPLY_INFO_LOAD, Cat(flags, held)  # HELD is the flag after the three

        def start_reply(kind):
            code = {Reply.STEP: P.REPLY_STEP, Reply.ACK: P.REPLY_ACK, Reply.INFO: info_code}[kind]
            m.d.sync += [reply.eq(kind), pos.eq(0), flags.eq(news), header.eq(code | status)]
            m.next = "SEND"

        with m.FSM():
            with m.State("FEED"):
                if self.image_words:
                    self._feed_held(m, held, fifo, word, mask, start_reply)
                    with m.Else():
                        self._feed(m, core, fifo, word, commands, mask, start_reply)
                else:
                    self._feed(m, core, fifo, word, commands, mask, start_reply)
            with m.State("COLLECT"):
                self._collect(m, core, mask, start_reply)
            with m.State("SEND"):
                self._send(m, tx, reply, header, pos, mask)
        return m

    def _feed_held(self, m, held, fifo, word, mask, start_reply) -> None:
        """While held: drop events, answer STEP (no spikes) and CLEAR without the core; SYNC and
        INFO go on to `_feed` (the caller's Else)."""
        command = word.value[:2] | P.COMMAND_TAG
        with m.If(held & fifo.r_rdy & (word.event | (command == P.STEP) | (command == P.CLEAR))):
            m.d.comb += fifo.r_en.eq(1)
            with m.If(~word.event):
                m.d.sync += mask.eq(0)
                with m.If(command == P.STEP):
                    start_reply(Reply.STEP)
                with m.Else():
                    start_reply(Reply.ACK)

    def _feed(self, m, core, fifo, word, commands, mask, start_reply) -> None:
        """FIFO -> core: events once their chunk's closing command has arrived (or the FIFO is
        full), STEP/CLEAR as the core's END/CLEAR beats; SYNC and INFO are answered at once."""
        command = word.value[:2] | P.COMMAND_TAG
        m.d.comb += core.events.payload.addr.eq(word.value)
        with m.If(fifo.r_rdy & word.event):
            with m.If((commands != 0) | ~fifo.w_rdy):
                m.d.comb += [core.events.valid.eq(1), core.events.payload.kind.eq(Kind.SPIKE),
                             fifo.r_en.eq(core.events.ready)]
        with m.Elif(fifo.r_rdy & ((command == P.STEP) | (command == P.CLEAR))):
            m.d.comb += [core.events.valid.eq(1), fifo.r_en.eq(core.events.ready),
                         core.events.payload.kind.eq(Mux(command == P.STEP, Kind.END, Kind.CLEAR))]
            with m.If(core.events.ready):
                m.d.sync += mask.eq(0)
                m.next = "COLLECT"
        with m.Elif(fifo.r_rdy):
            m.d.comb += fifo.r_en.eq(1)
            with m.If(command == P.SYNC):
                start_reply(Reply.ACK)
            with m.Else():
                start_reply(Reply.INFO)

    def _collect(self, m, core, mask, start_reply) -> None:
        """Core -> spike mask, until the END (STEP reply) or CLEAR (ACK) that closes the step."""
        m.d.comb += core.spikes.ready.eq(1)
        with m.If(core.spikes.valid):
            with m.If(core.spikes.payload.kind == Kind.SPIKE):
                m.d.sync += mask.bit_select(core.spikes.payload.addr, 1).eq(1)
            with m.Elif(core.spikes.payload.kind == Kind.END):
                start_reply(Reply.STEP)
            with m.Else():
                start_reply(Reply.ACK)

    def _send(self, m, tx, reply, header, pos, mask) -> None:
        """The reply, byte by byte (hw/link/protocol.py): header, then its payload."""
        step = [header, *(mask[i:i + 8] for i in range(0, self.n_out, 8)),
                *(self.core.cycles[i:i + 8] for i in range(0, 8 * P.CYCLE_BYTES, 8))]
        info = [header, *(Const(b, 8) for b in P.info_bytes(self.info))]
        if self.image_words:
            info.append(self.load_status)
        last = Signal()
        with m.Switch(reply):
            for kind, payload in ((Reply.STEP, step), (Reply.ACK, [header]), (Reply.INFO, info)):
                with m.Case(kind):
                    m.d.comb += [tx.data.payload.eq(Array(payload)[pos]), last.eq(pos == len(payload) - 1)]
        m.d.comb += tx.data.valid.eq(1)
        with m.If(tx.data.ready):
            m.d.sync += pos.eq(pos + 1)
            with m.If(last):
                m.next = "FEED"
