"""Plain RTP carrying Opus (what Janus forwards of one speaker, on loopback), decoded to the
16 kHz mono 16-bit PCM the caption engine and the recording take.

PyAV (which faster-whisper brings) decodes Opus with libopus. Packets arrive 20 ms at a time and
leave as 20 ms frames of PCM; a packet lost on the way becomes 20 ms of silence, so the audio
keeps its place on the room clock. Decoding a packet takes tens of microseconds, so it runs on the
event loop, where the packets arrive.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable

import av
import numpy as np

from roomscribe.pcm import BYTES_PER_SAMPLE, SAMPLE_RATE

log = logging.getLogger(__name__)

FRAME_BYTES = SAMPLE_RATE * BYTES_PER_SAMPLE * 20 // 1000
"""20 ms of 16-bit PCM at 16 kHz: what each Opus packet of a browser holds."""
MAX_GAP = 50
"""Lost packets filled with silence, at most (a second); a longer gap is a new start."""


def rtp_payload(packet: bytes) -> tuple[int, bytes] | None:
    """(sequence number, payload) of an RTP packet; None when it is not one."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    count, extended, padded = packet[0] & 0x0F, packet[0] & 0x10, packet[0] & 0x20
    (seq,) = struct.unpack_from("!H", packet, 2)
    offset = 12 + 4 * count
    if extended:
        if len(packet) < offset + 4:
            return None
        (words,) = struct.unpack_from("!H", packet, offset + 2)
        offset += 4 + 4 * words
    end = len(packet) - (packet[-1] if padded else 0)
    if offset > end:
        return None
    return seq, packet[offset:end]


class OpusDecoder:
    """Opus packets in, 20 ms frames of 16 kHz mono PCM out (through `emit`)."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._emit = emit
        self._codec = av.CodecContext.create("opus", "r")
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self._pending = b""
        self._last_seq: int | None = None

    def packet(self, seq: int, payload: bytes) -> None:
        if self._last_seq is not None:
            gap = (seq - self._last_seq) % 65536
            if gap == 0 or gap > 32768:
                return  # a repeat, or late: its place has passed
            if 1 < gap <= MAX_GAP:
                self._out(bytes(FRAME_BYTES * (gap - 1)))
        self._last_seq = seq
        try:
            frames = self._codec.decode(av.Packet(payload))
        except av.error.FFmpegError:
            log.debug("an undecodable Opus packet; its 20 ms are silence")
            self._out(bytes(FRAME_BYTES))
            return
        for frame in frames:
            for out in self._resampler.resample(frame):
                self._out(np.asarray(out.to_ndarray(), dtype="<i2").tobytes())

    def _out(self, pcm: bytes) -> None:
        self._pending += pcm
        while len(self._pending) >= FRAME_BYTES:
            frame, self._pending = self._pending[:FRAME_BYTES], self._pending[FRAME_BYTES:]
            self._emit(frame)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, decoder: OpusDecoder) -> None:
        self.decoder = decoder

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        parsed = rtp_payload(data)
        if parsed is not None:
            try:
                self.decoder.packet(*parsed)
            except Exception:
                log.exception("decoding forwarded audio failed")


async def receive(emit: Callable[[bytes], None], *,
                  host: str = "127.0.0.1") -> tuple[asyncio.DatagramTransport, int]:
    """Listen for one speaker's RTP on a free port of `host`; `emit` gets their PCM frames.
    Returns the transport (close it when the speaker stops) and the port."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Protocol(OpusDecoder(emit)), local_addr=(host, 0))
    port = int(transport.get_extra_info("sockname")[1])
    return transport, port
