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


def word_layout(n_in: int, commands: tuple = P.COMMANDS) -> data.StructLayout:
    """A decoded host word: an input address (event=1) or a command code (event=0)."""
    return data.StructLayout({"event": 1, "value": max(P.addr_bits(n_in), (len(commands) - 1).bit_length())})


class Mode(enum.Enum, shape=2):
    IDLE = 0
    EVENT = 1  # continuation bytes of an event address follow
    START = 2  # continuation bytes of a bitmap's first block follow
    BLOCKS = 3  # bitmap block bytes may follow


class WordDecoder(wiring.Component):
    """Bytes of the self-synchronising host format -> event/command words (hw/link/protocol.py).

    A bitmap block byte is expanded into one event per set bit, one per cycle: up to 7 cycles, done
    before the next byte arrives (a UART byte takes 10 bits of >= 4 clocks each). A faster source
    (the on-board benchmark) offers a byte only while `free`: for the byte on `bytes.payload`, the
    expansion in progress will lose nothing (a block byte may come once the last set bit is being
    sent, any other byte once none is left: it may send a word itself).

    Flags pulse for one cycle: `framing` (continuation byte without a head, a head that cuts a
    word short, or an unknown command), `overrun` (word lost: the output was not ready) and
    `range` (address >= n_in, dropped). `commands`: the command codes the build takes.
    """

    def __init__(self, n_in: int, commands: tuple = P.COMMANDS):
        self.n_in = n_in
        self.cont = P.cont_bytes(n_in)
        self.start = P.start_bytes(n_in)
        self.commands = commands
        super().__init__({"bytes": In(stream.Signature(8, always_ready=True)),
                          "words": Out(stream.Signature(word_layout(n_in, commands))),
                          "free": Out(1), "pending": Out(range(P.BLOCK_BITS + 2)),
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

        block_byte = (mode == Mode.BLOCKS) & ~byte[7]
        m.d.comb += [self.free.eq(Mux(block_byte, bits[1:] == 0, bits == 0)),
                     self.pending.eq(sum(bits) + self.words.valid)]
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
                with m.Elif(byte[:6] >= len(self.commands)):
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


def bench_feed_cycles(payload: bytes, n_in: int) -> int:
    """Clocks the benchmark's feed (_BenchState) takes to hand the sample block's `payload` to the
    word decoder when neither the flash nor the FIFO's room makes it wait, from taking the first
    16-bit word to handing over the last byte: a clock to take each word, then its two bytes, each
    only while the decoder is `free` (after a block byte with highest set bit h - 1, the next block
    byte may come h clocks later, any other byte h + 1 clocks later; after any other byte, 1)."""
    clock, free_block, free_other = -1, 0, 0
    to_blocks, in_blocks = None, False  # the decoder's mode: START's bytes left, or BLOCKS
    for i, byte in enumerate(payload):
        block = in_blocks and not byte & 0x80
        # The first byte of a word comes a clock after the word's take, itself a clock after the last byte.
        clock = max(clock + (1 if i % 2 else 2), free_block if block else free_other)
        if block:
            free_block, free_other = clock + max(1, byte.bit_length()), clock + byte.bit_length() + 1
        if byte & 0x80:  # a head ends a bitmap (or opens one)
            to_blocks, in_blocks = (P.start_bytes(n_in) if byte == P.BITMAP else None), False
        elif to_blocks is not None:
            to_blocks -= 1
            in_blocks, to_blocks = to_blocks == 0, (to_blocks or None)
    return clock + 1


class Reply(enum.Enum, shape=2):
    STEP = 0
    ACK = 1
    INFO = 2


class BenchReply(enum.Enum, shape=3):
    """Reply, and the on-board benchmark's (a build without it keeps the 2-bit register and its netlist)."""
    STEP = 0
    ACK = 1
    INFO = 2
    SAMPLE = 3
    END = 4


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

    `bench`: the on-board benchmark (hw/link/samples.py). BENCH pulses `bench_start` (to a
    restartable FlashLoader of the sample block) and, until the block's `bench_status` is final,
    feeds its `bench_words` into the word decoder in the UART's place, two bytes per word, each
    word only while the FIFO has room for its expansion (protocol.BENCH_MARGIN). CLEAR, STEP and
    SYNC then answer nothing: the FSM adds each step's spikes and cycles up, and after the
    artifact's `steps` steps sends one SAMPLE reply; at the block's end one END reply (its status
    and `bench_trailer`). Replies go through a small FIFO to the transmitter so the core never
    waits for the UART; INFO carries CAP_BENCH and the core's lanes (for the host's cycle check).
    """

    def __init__(self, art, *, clk_hz: float, baud: int = P.DEFAULT_BAUD, fifo_depth: int = FIFO_DEPTH,
                 core: Core | None = None, bench: bool = False):
        if fifo_depth < 2:
            raise ValueError(f"fifo_depth: must be >= 2, got {fifo_depth}")
        if bench:
            P.bench_credit(fifo_depth)  # refuses a FIFO without room for the flash reader's margin
            if art.steps > 0xFF:
                raise ValueError(f"bench: SAMPLE replies count spikes in a byte: at most 255 steps, got {art.steps}")
        self.divisor = P.uart_divisor(clk_hz, baud)
        self.core = core or Core(art)
        self.image_words = self.core.image_words
        self.n_in, self.n_out, self.steps, self.bench = art.n_in, art.n_out, art.steps, bench
        self.commands = P.BENCH_COMMANDS if bench else P.COMMANDS
        self.replies = BenchReply if bench else Reply
        self.info = P.Info(n_in=art.n_in, n_out=art.n_out, fifo_depth=fifo_depth, clock_hz=round(clk_hz),
                           model=P.model_digest(art),
                           caps=P.bench_caps(self.core.plans[0].lanes) if bench else 0)
        ports = {"rx": In(1, init=1), "tx": Out(1, init=1)}
        if self.image_words:
            ports.update(load=In(stream.Signature(16)), load_status=In(STATUS_BITS, init=LoadStatus.LOADING))
        if bench:
            ports.update(bench_start=Out(1), bench_words=In(stream.Signature(16)),
                         bench_status=In(STATUS_BITS, init=LoadStatus.NONE), bench_trailer=In(32))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.rx = rx = UARTRx(self.divisor)
        m.submodules.tx = tx = UARTTx(self.divisor)
        m.submodules.decoder = dec = WordDecoder(self.n_in, self.commands)
        layout = word_layout(self.n_in, self.commands)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=layout.size, depth=self.info.fifo_depth)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx),
                     fifo.w_data.eq(dec.words.payload), fifo.w_en.eq(dec.words.valid),
                     dec.words.ready.eq(fifo.w_rdy)]
        bench = _BenchState(self, m, rx, dec, fifo) if self.bench else None
        if not bench:
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
        reply = Signal(self.replies)
        header = Signal(8)
        m.d.sync += flags.eq(flags | news)

        info_code, status, held = P.REPLY_INFO, flags, Const(0)
        if self.image_words:
            held = Signal()  # the core's image has not (or not correctly) loaded
            wiring.connect(m, wiring.flipped(self.load), core.load)
            m.d.comb += [held.eq(self.load_status != LoadStatus.OK), core.hold.eq(held)]
            info_code, status = P.REPLY_INFO_LOAD, Cat(flags, held)  # HELD is the flag after the three
        if bench:
            info_code = P.REPLY_INFO_CAPS
        lengths = [P.step_reply_len(self.n_out), P.INFO_REPLY_LEN]
        if bench:
            lengths += [P.info_reply_len(info_code), P.sample_reply_len(self.n_out), P.BENCH_END_REPLY_LEN]
        pos = Signal(range(max(lengths)))
        codes = {self.replies.STEP: P.REPLY_STEP, self.replies.ACK: P.REPLY_ACK, self.replies.INFO: info_code}
        if bench:
            codes.update({BenchReply.SAMPLE: P.REPLY_SAMPLE, BenchReply.END: P.REPLY_BENCH_END})

        def start_reply(kind):
            m.d.sync += [reply.eq(kind), pos.eq(0), flags.eq(news), header.eq(codes[kind] | status)]
            m.next = "SEND"

        sink = self._reply_sink(m, tx)
        with m.FSM():
            with m.State("FEED"):
                if self.image_words:
                    self._feed_held(m, held, fifo, word, mask, start_reply)
                    with m.Else():
                        self._feed(m, core, fifo, word, commands, mask, start_reply, held, bench)
                else:
                    self._feed(m, core, fifo, word, commands, mask, start_reply, held, bench)
                if bench:
                    with m.If(bench.finished(fifo, dec)):
                        m.d.sync += [bench.running.eq(0), bench.stamp.eq(bench.clock)]
                        start_reply(self.replies.END)
            with m.State("COLLECT"):
                self._collect(m, core, mask, start_reply, bench)
            if bench:
                with m.State("TALLY"):
                    bench.tally(core, mask, start_reply)
            with m.State("SEND"):
                self._send(m, sink, reply, header, pos, mask, bench)
        return m

    def _command(self, word):
        return word.value[:(len(self.commands) - 1).bit_length()] | P.COMMAND_TAG

    def _feed_held(self, m, held, fifo, word, mask, start_reply) -> None:
        """While held: drop events, answer STEP (no spikes) and CLEAR without the core; SYNC, INFO
        and BENCH go on to `_feed` (the caller's Else)."""
        command = self._command(word)
        with m.If(held & fifo.r_rdy & (word.event | (command == P.STEP) | (command == P.CLEAR))):
            m.d.comb += fifo.r_en.eq(1)
            with m.If(~word.event):
                m.d.sync += mask.eq(0)
                with m.If(command == P.STEP):
                    start_reply(self.replies.STEP)
                with m.Else():
                    start_reply(self.replies.ACK)

    def _feed(self, m, core, fifo, word, commands, mask, start_reply, held, bench) -> None:
        """FIFO -> core: events once their chunk's closing command has arrived (or the FIFO is
        full), STEP/CLEAR as the core's END/CLEAR beats; SYNC and INFO are answered at once, BENCH
        starts the benchmark (answered END with HELD while the core is held); during one, the
        sample block's SYNC words are taken silently."""
        command = self._command(word)
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
                if bench:
                    with m.If(command == P.CLEAR):
                        bench.new_sample()
        with m.Elif(fifo.r_rdy):
            m.d.comb += fifo.r_en.eq(1)
            with m.If(bench.running if bench else Const(0)):
                pass  # the sample block's SYNC padding; nothing answers during a benchmark
            with m.Elif(command == P.SYNC):
                start_reply(self.replies.ACK)
            with m.Elif(command == P.INFO):
                start_reply(self.replies.INFO)
            if bench:  # then BENCH
                with m.Elif(held):
                    start_reply(self.replies.END)
                with m.Else():
                    bench.begin()

    def _collect(self, m, core, mask, start_reply, bench) -> None:
        """Core -> spike mask, until the END (STEP reply) or CLEAR (ACK) that closes the step;
        during a benchmark END goes on to TALLY and CLEAR back to FEED, without a reply."""
        m.d.comb += core.spikes.ready.eq(1)
        with m.If(core.spikes.valid):
            with m.If(core.spikes.payload.kind == Kind.SPIKE):
                m.d.sync += mask.bit_select(core.spikes.payload.addr, 1).eq(1)
            if bench:
                with m.Elif(bench.running):
                    m.next = "FEED"
                    with m.If(core.spikes.payload.kind == Kind.END):
                        m.next = "TALLY"
            with m.Elif(core.spikes.payload.kind == Kind.END):
                start_reply(self.replies.STEP)
            with m.Else():
                start_reply(self.replies.ACK)

    def _reply_sink(self, m, tx):
        """Where the replies' bytes go: the transmitter, or with the benchmark a FIFO in front of
        it (a SAMPLE reply goes in at a byte per clock while the core runs on)."""
        if not self.bench:
            return tx.data
        m.submodules.tx_fifo = txq = SyncFIFOBuffered(width=8, depth=2 * P.sample_reply_len(self.n_out))
        m.d.comb += [tx.data.payload.eq(txq.r_data), tx.data.valid.eq(txq.r_rdy), txq.r_en.eq(tx.data.ready)]
        sink = stream.Signature(8).flip().create()
        m.d.comb += [txq.w_data.eq(sink.payload), txq.w_en.eq(sink.valid), sink.ready.eq(txq.w_rdy)]
        return sink

    def _send(self, m, sink, reply, header, pos, mask, bench) -> None:
        """The reply, byte by byte (hw/link/protocol.py): header, then its payload."""
        step = [header, *(mask[i:i + 8] for i in range(0, self.n_out, 8)), *_bytes(self.core.cycles)]
        info = [header, *(Const(b, 8) for b in P.info_bytes(self.info))]
        if self.image_words:
            info.append(self.load_status)
        elif bench:
            info.append(Const(LoadStatus.NONE, 8))
        kinds = [(self.replies.STEP, step), (self.replies.ACK, [header]), (self.replies.INFO, info)]
        if bench:
            info.append(Const(self.info.caps, 8))
            kinds += [(self.replies.SAMPLE, [header, *bench.counts, *_bytes(bench.cycles), *_bytes(bench.stamp)]),
                      (self.replies.END, [header, self.bench_status, *_bytes(self.bench_trailer), *_bytes(bench.stamp)])]
        last = Signal()
        with m.Switch(reply):
            for kind, payload in kinds:
                with m.Case(kind):
                    m.d.comb += [sink.payload.eq(Array(payload)[pos]), last.eq(pos == len(payload) - 1)]
        m.d.comb += sink.valid.eq(1)
        with m.If(sink.ready):
            m.d.sync += pos.eq(pos + 1)
            with m.If(last):
                m.next = "FEED"


def _bytes(value) -> list:
    """A little-endian field's bytes."""
    return [value[i:i + 8] for i in range(0, len(value), 8)]


class _BenchState:
    """The benchmark's registers and the logic around the FSM (UARTBridge's `bench`): the sample
    block's words -> bytes into the decoder, the per-sample spike counts, cycles and time stamps."""

    def __init__(self, bridge: UARTBridge, m: Module, rx: UARTRx, dec: WordDecoder, fifo):
        self.bridge, self.m = bridge, m
        self.running = Signal()  # from BENCH to the END reply
        self.seen_loading = Signal()  # the block's reader has started (its status before is stale)
        self.counts = [Signal(8, name=f"bench_count{i}") for i in range(bridge.n_out)]
        self.cycles = Signal(32)  # core cycles of the sample so far
        self.step = Signal(range(bridge.steps))
        self.clock = Signal(32)  # board cycles since BENCH
        self.stamp = Signal(32)  # `clock` at the last SAMPLE/END reply
        start = Signal()
        m.d.sync += start.eq(0)
        m.d.comb += bridge.bench_start.eq(start)
        self.start = start
        with m.If(self.running):
            m.d.sync += self.clock.eq(self.clock + 1)
        with m.If(bridge.bench_status == LoadStatus.LOADING):
            m.d.sync += self.seen_loading.eq(1)
        # Flash words -> decoder bytes, low byte first, each once the decoder is free for it
        # (bench_feed_cycles models the pace).
        word, left = Signal(16), Signal(range(3))
        # The next word may expand to 2 * BLOCK_BITS events: take it only if they fit the FIFO
        # beside what it holds and what the decoder still holds (`pending`: the last byte may
        # still be expanding). BENCH_MARGIN keeps 2 words more than that free.
        room = fifo.level + dec.pending <= bridge.info.fifo_depth - P.BENCH_MARGIN
        words = bridge.bench_words
        m.d.comb += words.ready.eq(self.running & (left == 0) & room)
        with m.If(words.valid & words.ready):
            m.d.sync += [word.eq(words.payload), left.eq(2)]
        out = (left != 0) & dec.free
        with m.If(out):
            m.d.sync += [word.eq(word >> 8), left.eq(left - 1)]
        m.d.comb += [dec.bytes.payload.eq(Mux(self.running, word[:8], rx.data.payload)),
                     dec.bytes.valid.eq(Mux(self.running, out, rx.data.valid))]
        self.drained = (left == 0) & (dec.pending == 0) & ~words.valid

    def begin(self) -> None:
        self.m.d.sync += [self.running.eq(1), self.start.eq(1), self.seen_loading.eq(0), self.clock.eq(0)]

    def new_sample(self) -> None:
        self.m.d.sync += [self.cycles.eq(0), self.step.eq(0), *(c.eq(0) for c in self.counts)]

    def finished(self, fifo, dec):
        """The block is read (its verdict is in) and everything from it has gone through the core."""
        status = self.bridge.bench_status
        return (self.running & self.seen_loading & (status != LoadStatus.LOADING) & self.drained
                & ~dec.words.valid & ~fifo.r_rdy)

    def tally(self, core, mask, start_reply) -> None:
        """A step has ended (the core's `cycles` holds its count now): add it to the sample; after
        the last step, the SAMPLE reply."""
        m = self.m
        total = self.cycles + core.cycles
        m.d.sync += [self.cycles.eq(total), self.step.eq(self.step + 1),
                     *(c.eq(c + mask[i]) for i, c in enumerate(self.counts))]
        with m.If(self.step == self.bridge.steps - 1):
            m.d.sync += self.stamp.eq(self.clock)
            start_reply(BenchReply.SAMPLE)
        with m.Else():
            m.next = "FEED"
