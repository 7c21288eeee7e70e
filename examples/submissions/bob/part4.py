import numpy as np
import torch
import torch.nn as nn


RNN_SHAPES = {
    'RNNCell.input': '',
    'RNNCell.hidden': '',
    'RNNCell.weight_ih': '',
    'RNNCell.weight_hh': '',
    'RNN.input': '',
    'RNN.h0': '',
    'RNN.output': '',
    'RNN.h_n': '',
}
RNN_SHAPES = {
    'RNNCell.input': '(batch, input_size)',
    'RNNCell.hidden': '(batch, hidden_size)',
    'RNNCell.weight_ih': '(hidden_size, input_size)',
    'RNNCell.weight_hh': '(hidden_size, hidden_size)',
    'RNN.input': '(seq_len, batch, input_size)',
    'RNN.h0': '(num_layers, batch, hidden_size)',
    'RNN.output': '(seq_len, batch, hidden_size)',
    'RNN.h_n': '(num_layers, batch, hidden_size)',
}
