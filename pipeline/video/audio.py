"""A clip's audio, copied packet for packet into the clip we write (:func:`pipeline.video.mp4.write_video`).

The sound is never decoded or re-encoded: each packet goes out with its bytes unchanged, moved in
time only by the amount the pictures are moved, so sound and picture stay as far apart as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Any


def first_sound(source: Any) -> Fraction | None:
    """When the audio of the clip opened as ``source`` starts (seconds, in the clip's own time), or
    None without audio. Packets before 0 are the encoder's priming (AAC's first 1024 samples, hidden
    by the MP4's edit list): the sound a listener hears begins with the first packet at or after 0."""
    if not source.streams.audio:
        return None
    stream = source.streams.audio[0]
    for packet in source.demux(stream):
        if packet.pts is not None and packet.pts >= 0:
            return packet.pts * _time_base(stream)
    return None


def _time_base(stream: Any) -> Fraction:
    """An audio stream's time base (demuxers set one; 1 / its sample rate is what they would set)."""
    return Fraction(stream.time_base) if stream.time_base else Fraction(1, stream.sample_rate or 1)


class AudioCopy:
    """The audio packets of the clip opened as ``source`` (closed by its owner), copied into
    ``container`` as the written video's time reaches theirs. ``window`` (seconds of the clip's own
    time, end excluded; all of it when None) chooses the packets; ``origin`` (seconds of the clip)
    is the time that becomes the output's 0, for the sound as for the pictures."""

    def __init__(
        self, container: Any, source: Any, window: tuple[Fraction, Fraction | float] | None, origin: Fraction
    ) -> None:
        self.source = source
        audio = self.source.streams.audio[0]
        self.stream = container.add_stream_from_template(audio)
        self.packets: Iterator[Any] = (p for p in self.source.demux(audio) if p.dts is not None)
        self.time_base = _time_base(audio)
        self.window = window
        self.origin = origin
        self.shift = round(origin / self.time_base)  # in the audio's own units, as its packets count
        self.pending: Any = None

    def until(self, seconds: float) -> None:
        """Mux every packet up to ``seconds`` of the output's time."""
        while True:
            packet = self.pending or next(self.packets, None)
            self.pending = None
            if packet is None:
                return
            at = packet.pts * self.time_base if packet.pts is not None else Fraction(0)
            if self.window is not None and not self.window[0] <= at < self.window[1]:
                if at >= self.window[1]:
                    return
                continue
            if at - self.origin > seconds:
                self.pending = packet
                return
            if self.shift:
                packet.pts -= self.shift
                packet.dts -= self.shift
            packet.stream = self.stream
            self.stream.container.mux(packet)
