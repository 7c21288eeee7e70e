"""Calibrate the training checks on the reference: how many epochs each seed needs.

    python bench/calibrate.py [n_seeds]

Part 2: for seeds 0..n-1, the first epoch from which each hello model predicts 'ohlol' and keeps it
(60 epochs at most), and how many fail within the homework's 15 epochs. Part 3: epochs until the grader's
loss (mean per-letter cross-entropy) falls below the configured threshold, for four seeds.
The grading.toml seeds, epoch budgets and threshold were set from this script's output.
"""

from __future__ import annotations

import sys

import torch

from grader.config import DEFAULT_REFERENCE, load_config
from grader.pipeline import load_reference

torch.set_num_threads(1)


def main(n_seeds: int) -> None:
    ref, config = load_reference(DEFAULT_REFERENCE), load_config()
    inputs = ref.one_hot(ref.encode("hello", ref.HELLO_VOCAB), 4)
    labels = torch.tensor(ref.encode("ohlol", ref.HELLO_VOCAB)).view(-1, 1)
    for name, model_class, train in (("RNNCell", ref.HelloCell, ref.train_hello_cell),
                                     ("RNN", ref.HelloRNN, ref.train_hello_rnn)):
        settled = []
        for seed in range(n_seeds):
            torch.manual_seed(seed)
            history = train(model_class(4, 4, 1), inputs, labels, epochs=60)
            words = [w for _, w in history]
            settled.append(next((i + 1 for i in range(60) if all(w == "ohlol" for w in words[i:])), None))
        failing = sum(1 for e in settled if e is None or e > 15)
        print(f"{name}: epochs until 'ohlol' stays, per seed: {settled}")
        print(f"{name}: {failing} of {n_seeds} seeds are not there after 15 epochs")
    threshold = config.parts["3"].training["loss_threshold"]
    enc, dec, out = ref.make_data(ref.PAIRS)
    for seed in range(4):
        torch.manual_seed(seed)
        model, epochs = ref.Seq2Seq(), 0
        while epochs < 2000:
            ref.train_seq2seq(model, ref.PAIRS, 50, "cpu")
            epochs += 50
            with torch.no_grad():
                model.eval()
                logits = model(enc, torch.zeros(1, 6, 128), dec)
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 29), out.t().reshape(-1)).item()
            if loss < threshold:
                break
        print(f"seq2seq seed {seed}: loss {loss:.4f} < {threshold} after {epochs} epochs")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
