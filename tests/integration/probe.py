"""Helpers of the suites that measure what a peer can cost the daemon
(test_security.py, test_curve.py): peak RSS, and a raw ZMTP peer that
sends frames of any size and number. Not a suite itself."""

import socket
import struct

MiB = 1 << 20
FRAME_MAX = (1 << 25) * 8            # ingest.h EW_FRAME_MAX
MESSAGE_MAX = 2 * FRAME_MAX + 65536  # ingest.h EW_MESSAGE_MAX


def vm_hwm_mib(pid):
    """Peak resident set of a process (VmHWM), in MiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM for pid %d" % pid)


def zmtp_connect(port, mechanism=b"NULL"):
    """A raw TCP peer that speaks just enough ZMTP 3.0 (greeting, NULL
    READY as a PUSH socket) to send frames of any size and count."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + mechanism.ljust(20, b"\0")
              + b"\0" + b"\0" * 31)
    if mechanism == b"NULL":
        body = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 4) + b"PUSH"
        s.sendall(b"\x04" + bytes([len(body)]) + body)
    return s


def zmtp_send_frames(s, nframes, frame_size, more_at_end=False):
    """Sends nframes frames of frame_size bytes as one message (the last one
    without MORE unless more_at_end). Returns False when the peer closed."""
    chunk = b"\0" * (4 * MiB)
    try:
        for i in range(nframes):
            more = 1 if (i < nframes - 1 or more_at_end) else 0
            s.sendall(bytes([more | 2]) + struct.pack(">Q", frame_size))
            left = frame_size
            while left:
                k = min(left, len(chunk))
                s.sendall(chunk[:k])
                left -= k
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        return False
    return True


