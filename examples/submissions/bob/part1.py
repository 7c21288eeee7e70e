import numpy as np
import torch
import torch.nn as nn


def srn_numpy(inputs, W, U, V, h0=None, activation=None):
    inputs = np.asarray(inputs, dtype=float)
    hidden = np.zeros(np.shape(W)[1]) if h0 is None else np.asarray(h0, dtype=float)
    outputs = []
    for x_t in inputs:
        hidden = x_t @ W + hidden @ U
        if activation is not None:
            hidden = activation(hidden)
        outputs.append(hidden @ V)
    return np.array(outputs)


def _fill_weights_ones_biases_zeros(module):
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.fill_(1.0 if name.startswith("weight") else 0.0)


def make_srn_cell(input_size, hidden_size, output_size):
    cell = nn.RNNCell(input_size=input_size, hidden_size=hidden_size)
    linear = nn.Linear(hidden_size, output_size)
    _fill_weights_ones_biases_zeros(cell)
    _fill_weights_ones_biases_zeros(linear)
    return cell, linear


def srn_cell(inputs, h0, cell, linear):
    hidden = h0
    outputs = []
    for x_t in inputs:
        hidden = cell(x_t, hidden)
        outputs.append(linear(hidden))
    return torch.stack(outputs), hidden


def make_srn_rnn(input_size, hidden_size, output_size, num_layers=1):
    rnn = nn.RNN(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
    linear = nn.Linear(hidden_size, output_size)
    _fill_weights_ones_biases_zeros(rnn)
    _fill_weights_ones_biases_zeros(linear)
    return rnn, linear


def srn_rnn(inputs, h0, rnn, linear):
    out, h_n = rnn(inputs, h0)
    return out, h_n, linear(out)
