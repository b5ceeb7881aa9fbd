"""The grading channel's wire format: plain data in bounded frames.

The grader and the sandboxed worker (:mod:`autograder.sandbox.box.worker`)
exchange messages over a pair of pipes. A message is plain data only:
``dict`` (string keys), ``list``, ``str``, ``int``, ``float``, ``bool``,
``None`` and ``torch.Tensor`` (dense, on the CPU). One frame holds one
message::

    b"AGW1" | header length (4 bytes) | body length (8 bytes) | header | body

The header is the message as JSON, each tensor replaced by
``{"$tensor": [dtype, shape, offset, nbytes]}``; the body holds the tensors'
bytes. Decoding never runs code: it parses JSON and copies bytes into new
tensors. Every size is checked against :class:`Bounds` *before* anything is
allocated or read, so a reply the worker made up (or a student's code wrote
into the pipe) costs the grader at most ``Bounds.max_body_bytes`` of memory
and fails with :class:`WireError`.

This module runs on both sides of the sandbox: the worker imports it from
its read-only copy of the kit.
"""
from __future__ import annotations

import dataclasses
import json
import os
import select
import struct
import time

import torch

MAGIC = b"AGW1"
_PREFIX = struct.Struct(">4sIQ")  # magic, header length, body length
TENSOR_KEY = "$tensor"
# dtype names on the wire -> torch dtypes (nothing else is accepted).
DTYPES = {
    "float32": torch.float32, "float64": torch.float64,
    "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
    "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
}
_NAMES = {v: k for k, v in DTYPES.items()}


class WireError(ValueError):
    """A frame that is malformed, too large, late, or cut short."""


@dataclasses.dataclass(frozen=True)
class Bounds:
    """What one decoded message may hold (checked before allocating)."""

    max_header_bytes: int = 4 * 2**20    # the JSON part
    max_body_bytes: int = 64 * 2**20     # all tensors' bytes together
    max_depth: int = 24                  # nesting of dicts and lists
    max_nodes: int = 200_000             # values in the message, all kinds
    max_ndim: int = 8                    # dimensions of one tensor
    max_dim: int = 2**31 - 1             # one dimension's size
    max_tensors: int = 10_000


BOUNDS = Bounds()


# --------------------------------------------------------------- encoding

def encode(message) -> bytes:
    """One frame holding ``message`` (plain data; raises TypeError else)."""
    blobs: list[bytes] = []
    offset = [0]

    def walk(x):
        cls = type(x)
        if x is None or cls in (bool, int, float, str):
            return x
        if cls is dict:
            if TENSOR_KEY in x:
                raise TypeError(f"the key {TENSOR_KEY!r} is reserved")
            out = {}
            for k, v in x.items():
                if type(k) is not str:
                    raise TypeError(f"dict key {k!r} is not a str")
                out[k] = walk(v)
            return out
        if cls in (list, tuple):
            return [walk(v) for v in x]
        if isinstance(x, torch.Tensor):
            return {TENSOR_KEY: tensor_ref(x)}
        raise TypeError(f"{cls.__name__} is not plain data")

    def tensor_ref(t):
        t = torch.Tensor.detach(t)
        if t.layout != torch.strided or t.device.type != "cpu":
            raise TypeError(f"only dense CPU tensors travel, got {t.device}")
        if t.dtype not in _NAMES:
            raise TypeError(f"dtype {t.dtype} does not travel")
        data = t.contiguous().view(torch.uint8).numpy().tobytes() \
            if t.numel() else b""
        ref = [_NAMES[t.dtype], list(t.shape), offset[0], len(data)]
        blobs.append(data)
        offset[0] += len(data)
        return ref

    header = json.dumps(walk(message), separators=(",", ":")).encode()
    body = b"".join(blobs)
    return _PREFIX.pack(MAGIC, len(header), len(body)) + header + body


# --------------------------------------------------------------- decoding

def decode(header: bytes, body: bytes, bounds: Bounds = BOUNDS):
    """The message of one frame's header and body (see :func:`encode`).

    Raises:
        WireError: malformed JSON, a value that is not plain data, a tensor
            reference outside the body, or a bound exceeded.
    """
    try:
        tree = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise WireError(f"the header is not JSON ({type(err).__name__})") \
            from None
    count = {"nodes": 0, "tensors": 0, "offset": 0}
    try:
        return _build(tree, body, bounds, 0, count)
    except WireError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the frame holds
        raise WireError(f"the frame does not decode ({type(err).__name__})"
                        ) from None


def _build(x, body, bounds, depth, count):
    count["nodes"] += 1
    if count["nodes"] > bounds.max_nodes:
        raise WireError(f"more than {bounds.max_nodes} values")
    if depth > bounds.max_depth:
        raise WireError(f"nested deeper than {bounds.max_depth}")
    if type(x) is dict:
        if TENSOR_KEY in x:
            if len(x) != 1:
                raise WireError("a tensor reference has other keys")
            count["tensors"] += 1
            if count["tensors"] > bounds.max_tensors:
                raise WireError(f"more than {bounds.max_tensors} tensors")
            return _tensor(x[TENSOR_KEY], body, bounds, count)
        return {_text(k): _build(v, body, bounds, depth + 1, count)
                for k, v in x.items()}
    if type(x) is list:
        return [_build(v, body, bounds, depth + 1, count) for v in x]
    if type(x) is str:
        return _text(x)
    return x  # JSON scalars: int, float, bool, None


def _text(s: str) -> str:
    """A string that can be written anywhere: lone surrogates (valid in
    JSON, not in UTF-8) become U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c
                       for c in s)


def _tensor(ref, body: bytes, bounds: Bounds, count: dict) -> torch.Tensor:
    if type(ref) is not list or len(ref) != 4:
        raise WireError("a tensor reference is not [dtype, shape, offset, "
                        "nbytes]")
    dtype, shape, offset, nbytes = ref
    if type(dtype) is not str or dtype not in DTYPES:
        raise WireError(f"dtype {dtype!r} is not accepted")
    if (type(shape) is not list or len(shape) > bounds.max_ndim
            or any(type(d) is not int or not 0 <= d <= bounds.max_dim
                   for d in shape)):
        raise WireError(f"shape {shape!r:.80} is not a list of at most "
                        f"{bounds.max_ndim} sizes of 0..{bounds.max_dim}")
    if any(type(v) is not int or v < 0 for v in (offset, nbytes)) \
            or offset + nbytes > len(body):
        raise WireError("a tensor reference points outside the body")
    # References follow each other through the body as encode() writes
    # them: no two share bytes, so the tensors made hold at most the body.
    if offset != count["offset"]:
        raise WireError(f"a tensor reference starts at byte {offset}, "
                        f"expected {count['offset']} (references may not "
                        "overlap)")
    count["offset"] = offset + nbytes
    itemsize = torch.empty((), dtype=DTYPES[dtype]).element_size()
    numel = 1
    for d in shape:
        numel *= d
    if numel * itemsize != nbytes:
        raise WireError(f"shape {shape} of {dtype} needs "
                        f"{numel * itemsize} bytes, the reference has "
                        f"{nbytes}")
    if numel == 0:
        return torch.empty(shape, dtype=DTYPES[dtype])
    raw = bytearray(body[offset:offset + nbytes])
    return torch.frombuffer(raw, dtype=torch.uint8).view(
        DTYPES[dtype]).reshape(shape)


# ------------------------------------------------------------ reading/writing

def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no answer within the time limit")
    return left


def read_exactly(fd: int, n: int, deadline: float | None) -> bytes:
    """``n`` bytes from ``fd``, waiting at most until ``deadline``.

    Raises:
        TimeoutError: the deadline passed first.
        EOFError: the other end closed the pipe.
    """
    chunks, got = [], 0
    while got < n:
        ready, _, _ = select.select([fd], [], [], _remaining(deadline))
        if not ready:
            raise TimeoutError("no answer within the time limit")
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the pipe was closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None,
               bounds: Bounds = BOUNDS):
    """Read and decode one frame; sizes are checked before reading.

    Raises:
        WireError: the frame is malformed or over ``bounds``.
        TimeoutError, EOFError: see :func:`read_exactly`.
    """
    magic, header_len, body_len = _PREFIX.unpack(
        read_exactly(fd, _PREFIX.size, deadline))
    if magic != MAGIC:
        raise WireError(f"not a frame (starts with {magic!r})")
    if header_len > bounds.max_header_bytes:
        raise WireError(f"header of {header_len} bytes is over the "
                        f"{bounds.max_header_bytes}-byte limit")
    if body_len > bounds.max_body_bytes:
        raise WireError(f"reply of {body_len} bytes is over the "
                        f"{bounds.max_body_bytes}-byte limit")
    header = read_exactly(fd, header_len, deadline)
    body = read_exactly(fd, body_len, deadline)
    return decode(header, body, bounds)


def write_frame(fd: int, message, deadline: float | None = None) -> None:
    """Encode ``message`` and write it, waiting at most until ``deadline``.

    ``fd`` may be non-blocking (the grader's end is, so that a worker that
    stops reading cannot stall it past ``deadline``).

    Raises:
        TimeoutError: the reader did not take the frame in time.
        BrokenPipeError: the reader is gone.
    """
    data = memoryview(encode(message))
    while data:
        _, ready, _ = select.select([], [fd], [], _remaining(deadline))
        if not ready:
            raise TimeoutError("the other side did not read in time")
        try:
            written = os.write(fd, data[:1 << 16])
        except BlockingIOError:
            continue
        data = data[written:]
