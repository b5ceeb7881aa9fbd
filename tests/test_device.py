"""Tests of autograder/student/device.py: every tensor on the expected device.

On a CPU-only machine the mismatch is exercised with the ``meta`` device;
the ``gpu`` tests run the real thing where CUDA is available.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from d2l import torch as d2l

from autograder.student import device
from autograder.student.errors import CheckFailed

pytestmark = pytest.mark.usefixtures("one_thread")

SIZES = dict(vocab_size=7, num_hiddens=5, num_layers=2)
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(),
                               reason="needs CUDA")


def book_build(vocab_size, num_hiddens, num_layers, device):
    layer = nn.LSTM(vocab_size, num_hiddens, num_layers, bidirectional=True)
    return d2l.RNNModel(layer, vocab_size).to(device)


def left_on_cpu(vocab_size, num_hiddens, num_layers, device):
    return d2l.RNNModel(nn.LSTM(vocab_size, num_hiddens, num_layers),
                        vocab_size)


def judge(build, where, gen, expected=None):
    ev = device.collect_model(build, device=where, generator=gen, **SIZES)
    device.judge_model(ev, expected=expected)
    return ev


@pytest.mark.parametrize("where", ["cpu", "meta"])
def test_book_model_is_accepted(where, gen):
    """Does the book's model, moved with .to(device), pass on cpu and meta?"""
    ev = judge(book_build, where, gen)
    names = [n for n, _ in ev["tensors"]]
    assert "parameter rnn.weight_ih_l0" in names
    assert {"begin_state[0]", "begin_state[1]", "output", "state[0]",
            "state[1]"} <= set(names)


def test_model_left_on_cpu_is_rejected(gen):
    """Is a model that ignores ``device`` rejected, naming a parameter?"""
    with pytest.raises(CheckFailed) as info:
        judge(left_on_cpu, "meta", gen)
    assert str(info.value).startswith(
        "parameter rnn.weight_ih_l0 is on cpu, expected meta")


def test_buffer_left_behind_is_rejected(gen):
    """Is a buffer registered after .to(device) named?"""

    def build(*args):
        model = book_build(*args)
        model.register_buffer("mask", torch.ones(3))
        return model

    with pytest.raises(CheckFailed, match="buffer mask is on cpu"):
        judge(build, "meta", gen)


def test_begin_state_on_wrong_device_is_rejected(gen):
    """Is a begin_state that ignores its device argument named?"""

    class CpuState(d2l.RNNModel):
        def begin_state(self, device, batch_size=1):
            return super().begin_state("cpu", batch_size)

    def build(vocab_size, num_hiddens, num_layers, device):
        return CpuState(nn.LSTM(vocab_size, num_hiddens, num_layers),
                        vocab_size).to(device)

    with pytest.raises(CheckFailed, match=r"begin_state\[0\] is on cpu, "
                       r"expected meta"):
        judge(build, "meta", gen)


def test_output_on_wrong_device_is_rejected(gen):
    """Is an output moved off the expected device named?"""

    class MovesOutput(d2l.RNNModel):
        def forward(self, inputs, state):
            Y, state = super().forward(inputs, state)
            return Y.to("meta"), state

    def build(vocab_size, num_hiddens, num_layers, device):
        return MovesOutput(nn.LSTM(vocab_size, num_hiddens, num_layers),
                           vocab_size).to(device)

    with pytest.raises(CheckFailed, match="output is on meta, expected cpu"):
        judge(build, "cpu", gen)


def test_fake_states_claiming_the_device_are_rejected(gen, fakes):
    """Are state objects that claim the right device rejected?"""

    def build(vocab_size, num_hiddens, num_layers, device):
        return fakes.AnyShapeModel(vocab_size, num_hiddens,
                                   num_layers).to(device)

    with pytest.raises(CheckFailed, match=r"begin_state\[0\]: got "
                       r".*AlwaysEqual, expected torch.Tensor"):
        judge(build, "cpu", gen)


def test_grader_expectation_overrides_recorded_one(gen):
    """Does the grader's expected device win over the recorded one?"""
    ev = device.collect_model(book_build, device="cpu", generator=gen,
                              **SIZES)
    with pytest.raises(CheckFailed, match="expected meta"):
        device.judge_model(ev, expected="meta")


def test_cuda_names_are_normalized():
    """Is 'cuda' the same device as 'cuda:0'?"""
    assert device.normalize("cuda") == device.normalize("cuda:0") == "cuda:0"


@pytest.mark.gpu
@needs_gpu
def test_book_model_on_gpu_is_accepted(gen):
    """Does the book's model pass on d2l.try_gpu() for real?"""
    judge(book_build, d2l.try_gpu(), gen)


@pytest.mark.gpu
@needs_gpu
def test_model_left_on_cpu_is_rejected_on_gpu(gen):
    """Is a model left on the CPU rejected when the GPU is expected?"""
    with pytest.raises(CheckFailed, match="parameter rnn.weight_ih_l0 is on "
                       "cpu, expected cuda:0"):
        judge(left_on_cpu, "cuda", gen)
