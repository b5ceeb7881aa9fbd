"""Known-good implementations of the student functions (instructor only).

The tests use them as good inputs that every check must accept. They follow
the contract (autograder/contract.py, README) and the book's style.
"""
from __future__ import annotations

import torch
from torch import nn
from d2l import torch as d2l


def normal(shape, device):
    return torch.randn(size=shape, device=device) * 0.01


def get_deep_rnn_params(vocab_size, num_hiddens, num_layers, device):
    params = []
    for layer in range(num_layers):
        num_inputs = vocab_size if layer == 0 else num_hiddens
        params += [normal((num_inputs, num_hiddens), device),
                   normal((num_hiddens, num_hiddens), device),
                   torch.zeros(num_hiddens, device=device)]
    params += [normal((num_hiddens, vocab_size), device),
               torch.zeros(vocab_size, device=device)]
    for param in params:
        param.requires_grad_(True)
    return params


def init_deep_rnn_state(batch_size, num_hiddens, device, num_layers):
    return tuple(torch.zeros((batch_size, num_hiddens), device=device)
                 for _ in range(num_layers))


def deep_rnn(inputs, state, params):
    *layers, W_hq, b_q = params
    H = list(state)
    outputs = []
    for X in inputs:  # X: (batch_size, vocab_size)
        for l in range(len(H)):
            W_xh, W_hh, b_h = layers[3 * l:3 * l + 3]
            H[l] = torch.tanh(X @ W_xh + H[l] @ W_hh + b_h)
            X = H[l]
        outputs.append(X @ W_hq + b_q)
    return torch.cat(outputs, dim=0), tuple(H)


def build_deep_lstm(vocab_size, num_hiddens, num_layers, device):
    lstm_layer = nn.LSTM(vocab_size, num_hiddens, num_layers)
    return d2l.RNNModel(lstm_layer, vocab_size).to(device)


def get_birnn_params(vocab_size, num_hiddens, device):
    params = []
    for _ in range(2):  # forward, backward
        params += [normal((vocab_size, num_hiddens), device),
                   normal((num_hiddens, num_hiddens), device),
                   torch.zeros(num_hiddens, device=device)]
    params += [normal((2 * num_hiddens, vocab_size), device),
               torch.zeros(vocab_size, device=device)]
    for param in params:
        param.requires_grad_(True)
    return params


def init_birnn_state(batch_size, num_hiddens, device):
    return (torch.zeros((batch_size, num_hiddens), device=device),
            torch.zeros((batch_size, num_hiddens), device=device))


def _run(inputs, H, W_xh, W_hh, b_h):
    hs = []
    for X in inputs:
        H = torch.tanh(X @ W_xh + H @ W_hh + b_h)
        hs.append(H)
    return hs, H


def birnn(inputs, state, params):
    W_xh_f, W_hh_f, b_h_f, W_xh_b, W_hh_b, b_h_b, W_hq, b_q = params
    H_f, H_b = state
    fwd, H_f = _run(inputs, H_f, W_xh_f, W_hh_f, b_h_f)
    bwd, H_b = _run(torch.flip(inputs, [0]), H_b, W_xh_b, W_hh_b, b_h_b)
    bwd = bwd[::-1]  # re-align the backward states to time t
    outputs = [torch.cat((f, b), dim=1) @ W_hq + b_q
               for f, b in zip(fwd, bwd)]
    return torch.cat(outputs, dim=0), (H_f, H_b)


def build_bidirectional_lstm(vocab_size, num_hiddens, num_layers, device):
    lstm_layer = nn.LSTM(vocab_size, num_hiddens, num_layers,
                         bidirectional=True)
    return d2l.RNNModel(lstm_layer, vocab_size).to(device)


def leaks_future(model, vocab_size, device, batch_size=2, num_steps=6):
    X = torch.randint(0, vocab_size, (batch_size, num_steps), device=device)

    def outputs(X):
        state = model.begin_state(batch_size=batch_size, device=device)
        with torch.no_grad():
            Y, _ = model(X, state)
        return Y.reshape(num_steps, batch_size, -1)

    base = outputs(X)
    for t in range(num_steps - 1):
        X2 = X.clone()
        X2[:, t + 1:] = (X2[:, t + 1:] + 1) % vocab_size
        if not torch.allclose(outputs(X2)[:t + 1], base[:t + 1]):
            return True
    return False
