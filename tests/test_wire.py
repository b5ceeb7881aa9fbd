"""Tests of autograder/sandbox/box/wire.py: plain data in bounded frames."""
from __future__ import annotations

import json
import os
import struct
import threading

import pytest
import torch

from autograder.sandbox.box import wire


def _split(frame: bytes) -> tuple[bytes, bytes]:
    _, n, m = struct.unpack(">4sIQ", frame[:16])
    return frame[16:16 + n], frame[16 + n:16 + n + m]


def test_plain_data_round_trips():
    """Do dicts, lists, scalars and tensors of every accepted dtype come
    back equal (tuples as lists)?"""
    message = {"a": [1, 2.5, "x", None, True], "t": torch.arange(6.).view(2, 3),
               "nested": {"i": torch.tensor([1, 2], dtype=torch.int64),
                          "b": torch.tensor([True]), "e": torch.empty(0, 4)},
               "tuple": (1, 2)}
    got = wire.decode(*_split(wire.encode(message)))
    assert got["a"] == [1, 2.5, "x", None, True] and got["tuple"] == [1, 2]
    assert torch.equal(got["t"], message["t"])
    assert got["nested"]["i"].dtype == torch.int64
    assert tuple(got["nested"]["e"].shape) == (0, 4)
    for dtype in wire.DTYPES.values():
        t = torch.zeros(3, dtype=dtype)
        assert torch.equal(wire.decode(*_split(wire.encode({"t": t})))["t"], t)


@pytest.mark.parametrize("bad", [object(), {1: "int key"},
                                 {"$tensor": "reserved"},
                                 torch.zeros(2).to_sparse()])
def test_only_plain_data_is_sent(bad):
    """Is anything but plain data refused when encoding?"""
    with pytest.raises(TypeError):
        wire.encode({"x": bad})


def _header(tree) -> bytes:
    return json.dumps(tree).encode()


@pytest.mark.parametrize("tree, body, words", [
    ({"$tensor": ["float32", [2, 3], 0, 24]}, b"\0" * 8, "outside"),
    ({"$tensor": ["float32", [2, 3], 0, 8]}, b"\0" * 8, "needs 24"),
    ({"$tensor": ["object", [1], 0, 8]}, b"\0" * 8, "not accepted"),
    ({"$tensor": ["float32", [-1], 0, 0]}, b"", "shape"),
    ({"$tensor": ["float32", [1] * 9, 0, 4]}, b"\0" * 4, "shape"),
    ({"$tensor": ["float32", [1], 0, 4], "x": 1}, b"\0" * 4, "other keys"),
    # Empty tensors with sizes torch cannot allocate (found by a red-team
    # review: torch.empty raised TypeError/RuntimeError in the grader).
    ({"$tensor": ["float32", [0, 2**63], 0, 0]}, b"", "shape"),
    ({"$tensor": ["float32", [0, 2**62, 2**62], 0, 0]}, b"", "shape"),
])
def test_malformed_tensor_references_are_refused(tree, body, words):
    """Is a tensor reference that lies about its bytes refused before any
    tensor is made?"""
    with pytest.raises(wire.WireError, match=words):
        wire.decode(_header(tree), body)


def test_bounds_hold_before_allocating():
    """Are too deep, too many, or too large messages refused?"""
    deep = b"[" * 100 + b"]" * 100
    with pytest.raises(wire.WireError, match="deeper"):
        wire.decode(deep, b"")
    many = _header(list(range(1000)))
    with pytest.raises(wire.WireError, match="more than"):
        wire.decode(many, b"", wire.Bounds(max_nodes=100))
    with pytest.raises(wire.WireError, match="not JSON"):
        wire.decode(b"[" * 10**6, b"")


def test_read_frame_checks_sizes_before_reading():
    """Does a frame that announces a huge body fail at once, without the
    reader waiting for (or allocating) the bytes?"""
    r, w = os.pipe()
    try:
        os.write(w, struct.pack(">4sIQ", wire.MAGIC, 10, 2**40))
        with pytest.raises(wire.WireError, match="over the"):
            wire.read_frame(r, deadline=None)
        os.write(w, b"NOPE" + b"\0" * 12)
        with pytest.raises(wire.WireError, match="not a frame"):
            wire.read_frame(r, deadline=None)
    finally:
        os.close(r)
        os.close(w)


def test_reading_and_writing_give_up_at_the_deadline():
    """Does a reader wait no longer than its deadline for a silent peer,
    and a writer no longer for a peer that stops reading?"""
    import time

    r, w = os.pipe()
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            wire.read_frame(r, deadline=time.monotonic() + 0.2)
        assert time.monotonic() - start < 2
        os.set_blocking(w, False)
        with pytest.raises(TimeoutError):
            wire.write_frame(w, {"x": torch.zeros(10**6)},
                             deadline=time.monotonic() + 0.2)
    finally:
        os.close(r)
        os.close(w)


def test_a_frame_crosses_a_pipe():
    """Does a frame written on one end come out whole on the other?"""
    r, w = os.pipe()
    message = {"t": torch.randn(300, 300)}
    writer = threading.Thread(target=wire.write_frame, args=(w, message))
    writer.start()
    got = wire.read_frame(r)
    writer.join()
    os.close(r)
    os.close(w)
    assert torch.equal(got["t"], message["t"])


@pytest.mark.parametrize("header", [
    (b'{"a": {"$tensor": ["float32", [0, 2147483647, 2147483647, '
     b'2147483647, 2147483647], 0, 0]}}'),
    b'{"$tensor": ["bool", [0, 99999999999], 0, 0]}',
])
def test_nothing_a_frame_holds_raises_anything_but_wire_error(header):
    """Does a frame that is well-formed but makes torch fail come back as a
    WireError (which fails only the call), never another exception?"""
    try:
        wire.decode(header, b"")
    except wire.WireError:
        pass



def test_overlapping_references_are_refused():
    """Red team: 100 references to the same 4 MiB would decode into 400
    MiB; is a reference that does not start where the last one ended
    refused, so that the tensors made never exceed the body?"""
    ref = {"$tensor": ["uint8", [1024], 0, 1024]}
    with pytest.raises(wire.WireError, match="may not overlap"):
        wire.decode(_header([ref] * 2), b"\0" * 1024)
    ok = [ref, {"$tensor": ["uint8", [1024], 1024, 1024]}]
    assert len(wire.decode(_header(ok), b"\0" * 2048)) == 2


def test_lone_surrogates_become_replacement_characters():
    """Does a student's error text with a lone surrogate (valid JSON, not
    UTF-8) come out writable, so the feedback page and gradebook can
    store it?"""
    got = wire.decode(b'{"m": "bad \\ud800 text"}', b"")
    assert got["m"].encode("utf-8") == "bad \ufffd text".encode("utf-8")
