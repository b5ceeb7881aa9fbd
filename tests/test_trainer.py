"""Tests for autograder/student/trainer.py: same numerics as d2l, faster loop."""
from __future__ import annotations

import dataclasses
import random

import pytest
import torch
from torch import nn
from d2l import torch as d2l

from autograder.student import trainer

H = 8          # tiny models: each test trains in well under a second
EPOCHS = 2


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread (two only spin-wait on a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus_vocab():
    from autograder import data

    return trainer.time_machine_corpus(path=data.locate(download=False))


def _model(vocab, bidirectional=False, seed=0):
    torch.manual_seed(seed)
    lstm = nn.LSTM(len(vocab), H, 2, bidirectional=bidirectional)
    return d2l.RNNModel(lstm, len(vocab))


class _Iter:
    def __init__(self, corpus, use_random_iter):
        self.corpus, self.random = corpus, use_random_iter

    def __iter__(self):
        make = (d2l.seq_data_iter_random if self.random
                else d2l.seq_data_iter_sequential)
        return make(self.corpus, 32, 35)


def _d2l_perplexities(net, corpus, lr, use_random_iter=False):
    loss = nn.CrossEntropyLoss()
    updater = torch.optim.SGD(net.parameters(), lr)
    return [d2l.train_epoch_ch8(net, _Iter(corpus, use_random_iter), loss,
                                updater, "cpu", use_random_iter)[0]
            for _ in range(EPOCHS)]


def _kit(net, corpus, lr, use_random_iter=False, device="cpu"):
    recipe = trainer.Recipe(num_epochs=EPOCHS, lr=lr,
                            use_random_iter=use_random_iter)
    return trainer.train(net, corpus, recipe, device)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("use_random_iter", [False, True])
def test_same_trajectory_as_d2l(corpus_vocab, bidirectional,
                                use_random_iter):
    """Does the kit trainer follow d2l.train_epoch_ch8's perplexities (and
    weights) under the book's recipe, for both ways of partitioning?"""
    corpus, vocab = corpus_vocab
    random.seed(3)
    ref_net = _model(vocab, bidirectional)
    ref = _d2l_perplexities(ref_net, corpus, 1.0, use_random_iter)
    random.seed(3)
    net = _model(vocab, bidirectional)
    got = _kit(net, corpus, 1.0, use_random_iter)
    assert got.perplexities == pytest.approx(ref, rel=1e-5)
    for a, b in zip(ref_net.parameters(), net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_trajectory_comparison_can_fail(corpus_vocab):
    """Would a different learning rate show up as a different trajectory
    (so that the comparison above is able to fail)?"""
    corpus, vocab = corpus_vocab
    random.seed(3)
    ref = _d2l_perplexities(_model(vocab), corpus, 1.0)
    random.seed(3)
    got = _kit(_model(vocab), corpus, 0.5)
    assert got.perplexities != pytest.approx(ref, rel=1e-5)


def test_consumes_random_like_d2l(corpus_vocab):
    """Does the trainer advance Python's random exactly as d2l's loop does
    (so that later epochs see the same offsets)?"""
    corpus, vocab = corpus_vocab
    random.seed(5)
    _d2l_perplexities(_model(vocab), corpus, 1.0)
    after_d2l = random.random()
    random.seed(5)
    _kit(_model(vocab), corpus, 1.0)
    assert random.random() == after_d2l


def test_epoch_batches_are_d2ls(corpus_vocab):
    """Are the stacked minibatches the ones d2l's iterator yields, with the
    targets time-major like Y.T.reshape(-1)?"""
    corpus, _ = corpus_vocab
    recipe = trainer.Recipe(num_epochs=1, lr=1.0)
    random.seed(7)
    pairs = list(d2l.seq_data_iter_sequential(corpus, 32, 35))
    random.seed(7)
    X, y = trainer.epoch_batches(corpus, recipe)
    assert tuple(X.shape) == (len(pairs), 32, 35)
    assert tuple(y.shape) == (len(pairs), 35 * 32)
    for i, (Xb, Yb) in enumerate(pairs):
        assert torch.equal(X[i], Xb)
        assert torch.equal(y[i], Yb.T.reshape(-1))


def test_corpus_equals_d2ls(corpus_vocab, tmp_path, monkeypatch):
    """Is the corpus read from the located file d2l's own corpus?"""
    from autograder import data

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    data.install(work)
    ref_corpus, ref_vocab = d2l.load_corpus_time_machine(10000)
    corpus, vocab = corpus_vocab
    assert corpus == ref_corpus
    assert vocab.idx_to_token == ref_vocab.idx_to_token
    assert (len(vocab), len(corpus)) == (28, 10000)


def test_adam_recipe_learns(corpus_vocab):
    """Does the fast grading recipe (Adam) lower the perplexity, and does an
    unknown optimizer name fail loudly?"""
    corpus, vocab = corpus_vocab
    recipe = trainer.Recipe(num_epochs=3, lr=0.03, optimizer="adam")
    got = trainer.train(_model(vocab), corpus, recipe)
    assert got.perplexities[-1] < got.perplexities[0]
    assert got.path == "cpu" and got.tokens == 3 * 8 * 32 * 35
    with pytest.raises(ValueError, match="unknown optimizer"):
        trainer.train(_model(vocab), corpus,
                      dataclasses.replace(recipe, optimizer="lbfgs"))


def test_frozen_model_does_not_learn(corpus_vocab):
    """Does a model whose every parameter is frozen keep its weights (no
    update sneaks past requires_grad=False)?"""
    corpus, vocab = corpus_vocab
    net = _model(vocab)
    net.rnn.requires_grad_(False)
    before = net.rnn.weight_hh_l0.clone()
    trainer.train(net, corpus, trainer.Recipe(num_epochs=1, lr=1.0))
    assert torch.equal(before, net.rnn.weight_hh_l0)


def test_threads_never_oversubscribe(monkeypatch):
    """Do W workers get at most cores // W threads each (at least one), and
    does $AUTOGRADER_THREADS override it?"""
    assert trainer.threads_per_worker(1, cores=2) == 2
    assert trainer.threads_per_worker(2, cores=2) == 1
    assert trainer.threads_per_worker(3, cores=16) == 5
    assert trainer.threads_per_worker(8, cores=2) == 1
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(trainer.THREADS_ENV, "1")
        assert trainer.configure_threads(workers=1) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------ CUDA

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("bidirectional", [False, True])
def test_cuda_graph_matches_plain_loop(corpus_vocab, bidirectional):
    """Does the CUDA-graph loop give the plain loop's trajectory, carrying
    the LSTM state between replays?"""
    corpus, vocab = corpus_vocab
    recipe = trainer.Recipe(num_epochs=3, lr=1.0)
    runs = {}
    for graphs in (False, True):
        random.seed(0)
        net = _model(vocab, bidirectional).cuda()
        runs[graphs] = trainer.train(net, corpus, recipe, "cuda",
                                     graphs=graphs)
    assert runs[True].path == "cuda-graph"
    assert runs[False].path == "cuda-eager"
    assert runs[True].perplexities == pytest.approx(
        runs[False].perplexities, rel=1e-4)


@pytest.mark.gpu
@cuda
def test_cuda_graph_matches_d2l(corpus_vocab):
    """Does the CUDA-graph loop follow d2l's own loop on the GPU?"""
    corpus, vocab = corpus_vocab
    loss = nn.CrossEntropyLoss()
    random.seed(0)
    ref_net = _model(vocab).cuda()
    updater = torch.optim.SGD(ref_net.parameters(), 1.0)
    ref = [d2l.train_epoch_ch8(ref_net, _Iter(corpus, False), loss, updater,
                               "cuda", False)[0] for _ in range(EPOCHS)]
    random.seed(0)
    got = _kit(_model(vocab).cuda(), corpus, 1.0, device="cuda")
    assert got.perplexities == pytest.approx(ref, rel=1e-4)


@pytest.mark.gpu
@cuda
def test_cuda_graph_adam(corpus_vocab):
    """Does the grading recipe (Adam, capturable) train under a graph?"""
    corpus, vocab = corpus_vocab
    recipe = trainer.Recipe(num_epochs=3, lr=0.03, optimizer="adam")
    got = trainer.train(_model(vocab).cuda(), corpus, recipe, "cuda")
    assert got.path == "cuda-graph"
    assert got.perplexities[-1] < got.perplexities[0]
