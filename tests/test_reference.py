"""The reference solution reproduces the homework's numbers, agrees with torch, and trains as calibrated."""

from __future__ import annotations

import numpy as np
import pytest
import torch

EXAMPLE = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
ONES = np.ones((2, 2))


def test_srn_numpy_fixed_example_without_activation(reference):
    outputs = reference.srn_numpy(EXAMPLE, ONES, ONES, ONES)
    assert outputs.shape == (3, 2)
    np.testing.assert_allclose(outputs, [[4, 4], [12, 12], [32, 32]])


def test_srn_numpy_fixed_example_with_tanh(reference):
    outputs = reference.srn_numpy(EXAMPLE, ONES, ONES, ONES, activation=np.tanh)
    np.testing.assert_allclose(outputs[:, 0], [1.92806, 1.99845, 1.99998], atol=1e-5)
    np.testing.assert_allclose(outputs[:, 0], outputs[:, 1])


def test_rnncell_example_with_h0_ones(reference):
    cell, linear = reference.make_srn_cell(2, 2, 2)
    Y, h_T = reference.srn_cell(torch.tensor(EXAMPLE, dtype=torch.float32).unsqueeze(1), torch.ones(1, 2),
                                cell, linear)
    assert Y.shape == (3, 1, 2) and h_T.shape == (1, 2)
    np.testing.assert_allclose(Y[:, 0, 0].detach().numpy(), [1.99866, 1.99865, 1.99998], atol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_nn_rnn_matches_numpy_on_random_weights(reference, seed):
    rng = np.random.default_rng(seed)
    T, B, I, H, O = 5, 3, 3, 4, 2
    rnn, linear = reference.make_srn_rnn(I, H, O)
    with torch.no_grad():
        for parameter in list(rnn.parameters()) + list(linear.parameters()):
            parameter.copy_(torch.tensor(rng.uniform(-1, 1, parameter.shape), dtype=torch.float32))
        rnn.bias_ih_l0.zero_(), rnn.bias_hh_l0.zero_(), linear.bias.zero_()
    inputs = rng.uniform(-1, 1, (T, B, I))
    h0 = rng.uniform(-1, 1, (1, B, H))
    with torch.no_grad():
        out, h_n, Y = reference.srn_rnn(torch.tensor(inputs, dtype=torch.float32),
                                        torch.tensor(h0, dtype=torch.float32), rnn, linear)
    W, U, V = (rnn.weight_ih_l0.detach().numpy().T.astype(float), rnn.weight_hh_l0.detach().numpy().T.astype(float),
               linear.weight.detach().numpy().T.astype(float))
    for b in range(B):
        expected = reference.srn_numpy(inputs[:, b], W, U, V, h0=h0[0, b], activation=np.tanh)
        np.testing.assert_allclose(Y[:, b].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(h_n[0].numpy(), out[-1].numpy())


def test_encode_and_one_hot(reference):
    assert reference.encode("hello", reference.HELLO_VOCAB) == [1, 0, 2, 2, 3]
    encoded = reference.one_hot([1, 0, 2, 2, 3], 4)
    assert encoded.shape == (5, 1, 4) and encoded.dtype == torch.float32
    assert encoded.argmax(dim=2).flatten().tolist() == [1, 0, 2, 2, 3]


@pytest.mark.parametrize("model_name, train_name, part", [("HelloCell", "train_hello_cell", "2.1"),
                                                          ("HelloRNN", "train_hello_rnn", "2.2")])
def test_hello_models_reach_ohlol_for_every_configured_seed(reference, config, model_name, train_name, part):
    """The grader's seeds and epoch budget are calibrated on the reference: all of them must pass."""
    training = config.parts[part].training
    inputs = reference.one_hot(reference.encode("hello", reference.HELLO_VOCAB), 4)
    labels = torch.tensor(reference.encode("ohlol", reference.HELLO_VOCAB)).view(-1, 1)
    for seed in training["seeds"]:
        torch.manual_seed(seed)
        model = getattr(reference, model_name)(4, 4, 1)
        history = getattr(reference, train_name)(model, inputs, labels, epochs=training["epochs"])
        assert len(history) == training["epochs"]
        first = next(i for i, (_, word) in enumerate(history) if word == "ohlol")
        assert first < training["epochs"] // 3, f"seed {seed} needs {first + 1} epochs: recalibrate"
        assert history[-1][1] == "ohlol"


def test_seq2seq_data_layout(reference):
    enc, dec, out = reference.make_data(reference.PAIRS)
    assert enc.shape == dec.shape == (6, 6, 29) and out.shape == (6, 6)
    assert enc.dtype == torch.float32 and out.dtype == torch.int64
    letters = reference.LETTERS
    assert "".join(letters[i] for i in enc[0].argmax(1)) == "man??E"
    assert "".join(letters[i] for i in dec[0].argmax(1)) == "Swomen"
    assert "".join(letters[i] for i in out[0]) == "womenE"


def test_seq2seq_translates_all_six_words_within_the_budget(reference, config):
    training = config.parts["3"].training
    torch.manual_seed(training["seed"])
    model = reference.Seq2Seq()
    epochs = 0
    while epochs < training["epoch_budget"]:
        reference.train_seq2seq(model, reference.PAIRS, training["chunk_epochs"], "cpu")
        epochs += training["chunk_epochs"]
        if all(reference.translate(model, w, "cpu") == t for w, t in reference.PAIRS):
            break
    assert all(reference.translate(model, w, "cpu") == t for w, t in reference.PAIRS)
    assert epochs <= training["epoch_budget"] // 2, f"needed {epochs} epochs: the budget's margin is too thin"
