"""Hostile clips the tests build for themselves: small files whose headers lie about their size.

:func:`write_header_bomb` writes an MP4 of a few kilobytes whose H.264 sequence parameter set (and
container header) declare ``side`` × ``side`` frames: a decoder that believes it allocates and
paints hundreds of megabytes for one frame. It is made from a 16 × 16 encode by rewriting the SPS
(Exp-Golomb fields, H.264 §7.3.2.1.1) and the boxes that hold it (ISO/IEC 14496-12).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

#: Boxes that hold boxes (and how many bytes of their own come before the children).
_CONTAINERS = {b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0, b"stsd": 8, b"avc1": 78}
#: Profiles whose SPS carries chroma format and bit depths.
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{b:08b}" for b in data)
        self.at = 0

    def u(self, n: int) -> int:
        value = int(self.bits[self.at : self.at + n] or "0", 2)
        self.at += n
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bits[self.at] == "0":
            zeros += 1
            self.at += 1
        return self.u(zeros + 1) - 1

    def rest(self) -> str:
        return self.bits[self.at :]


def _ue(value: int) -> str:
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


def _unescape(nal: bytes) -> bytes:
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _resized_sps(nal: bytes, side: int) -> bytes:
    """The SPS NAL unit ``nal`` declaring ``side`` × ``side`` pictures (no cropping)."""
    bits = _Bits(_unescape(nal[1:]))
    head = [f"{bits.u(8):08b}", f"{bits.u(8):08b}", f"{bits.u(8):08b}"]
    profile = int(head[0], 2)
    fields = [_ue(bits.ue())]  # seq_parameter_set_id
    if profile in _HIGH_PROFILES:
        chroma = bits.ue()
        fields.append(_ue(chroma))
        if chroma == 3:
            fields.append(str(bits.u(1)))
        fields += [_ue(bits.ue()), _ue(bits.ue()), str(bits.u(1))]
        if bits.u(1):
            raise ValueError("an SPS with scaling matrices: not supported here")
        fields.append("0")
    fields.append(_ue(bits.ue()))  # log2_max_frame_num_minus4
    order = bits.ue()
    fields.append(_ue(order))
    if order == 0:
        fields.append(_ue(bits.ue()))
    elif order == 1:
        raise ValueError("pic_order_cnt_type 1: not supported here")
    fields += [_ue(bits.ue()), str(bits.u(1))]  # max_num_ref_frames, gaps
    bits.ue(), bits.ue()  # the real size, replaced
    fields += [_ue(side // 16 - 1), _ue(side // 16 - 1)]
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        raise ValueError("interlaced SPS: not supported here")
    fields += ["1", str(bits.u(1))]  # frame_mbs_only, direct_8x8_inference
    if bits.u(1):  # cropping: dropped
        for _ in range(4):
            bits.ue()
    fields.append("0")
    tail = bits.rest().rstrip("0")  # VUI and the stop bit ('1', then zeros)
    stream = "".join(head + fields) + tail
    stream += "0" * (-len(stream) % 8)
    rbsp = int(stream, 2).to_bytes(len(stream) // 8, "big")
    return nal[:1] + _escape(rbsp)


def _boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    found, at = [], 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        found.append((kind, data[at + 8 : at + size]))
        at += size
    return found


def _rebuilt(data: bytes, side: int) -> bytes:
    """Boxes ``data`` with the avcC's SPS, the avc1 entry and the track header saying ``side``."""
    out = bytearray()
    for kind, body in _boxes(data):
        if kind in _CONTAINERS:
            own = bytearray(body[: _CONTAINERS[kind]])
            if kind == b"avc1":
                struct.pack_into(">HH", own, 24, side, side)
            body = bytes(own) + _rebuilt(body[_CONTAINERS[kind] :], side)
        elif kind == b"avcC":
            length = struct.unpack(">H", body[6:8])[0]
            sps = _resized_sps(body[8 : 8 + length], side)
            body = body[:6] + struct.pack(">H", len(sps)) + sps + body[8 + length :]
        elif kind == b"tkhd":
            body = body[:-8] + struct.pack(">II", side << 16, side << 16)
        out += struct.pack(">I4s", 8 + len(body), kind) + body
    return bytes(out)


def write_header_bomb(path: Path, side: int = 16000, frames: int = 2) -> Path:
    """An MP4 of ``frames`` frames that decode as ``side`` × ``side`` pictures, in a few kilobytes.

    The mdat comes before the moov (PyAV's muxer writes it so), so growing the moov moves no sample."""
    import av

    small = path.with_name(path.name + ".small.mp4")
    with av.open(str(small), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 90, np.uint8), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    data = small.read_bytes()
    small.unlink()
    kinds = [kind for kind, _ in _boxes(data)]
    if kinds.index(b"moov") < kinds.index(b"mdat"):
        raise ValueError("the moov precedes the mdat: its growth would move the samples")
    path.write_bytes(_rebuilt(data, side))
    return path
