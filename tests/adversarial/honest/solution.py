import numpy as np


def srn_numpy(inputs, W, U, V, h0=None, activation=None):
    state = np.zeros(W.shape[1]) if h0 is None else h0
    outputs = []
    for x in inputs:
        state = x @ W + state @ U
        if activation is not None:
            state = activation(state)
        outputs.append(state @ V)
    return np.array(outputs)
