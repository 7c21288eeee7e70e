"""Similarity across a class: students who copied each other rank above students who followed the same
tutorial, with the handout and known sources left out; reports escape student code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import cli
from grader.similarity import main as similarity

# A public tutorial this homework builds on (graykode-style seq2seq, written for this test).
TUTORIAL = '''
import torch
import torch.nn as nn

def make_batch(seq_data, num_dic, n_step):
    input_batch, output_batch, target_batch = [], [], []
    for seq in seq_data:
        for i in range(2):
            seq[i] = seq[i] + 'P' * (n_step - len(seq[i]))
        input = [num_dic[n] for n in seq[0]]
        output = [num_dic[n] for n in ('S' + seq[1])]
        target = [num_dic[n] for n in (seq[1] + 'E')]
        input_batch.append(np.eye(n_class)[input])
        output_batch.append(np.eye(n_class)[output])
        target_batch.append(target)
    return torch.FloatTensor(input_batch), torch.FloatTensor(output_batch), torch.LongTensor(target_batch)

class Seq2Seq(nn.Module):
    def __init__(self):
        super(Seq2Seq, self).__init__()
        self.enc_cell = nn.RNN(input_size=n_class, hidden_size=n_hidden, dropout=0.5)
        self.dec_cell = nn.RNN(input_size=n_class, hidden_size=n_hidden, dropout=0.5)
        self.fc = nn.Linear(n_hidden, n_class)

    def forward(self, enc_input, enc_hidden, dec_input):
        enc_input = enc_input.transpose(0, 1)
        dec_input = dec_input.transpose(0, 1)
        _, enc_states = self.enc_cell(enc_input, enc_hidden)
        outputs, _ = self.dec_cell(dec_input, enc_states)
        model = self.fc(outputs)
        return model
'''

# What two students wrote themselves; the copier renamed, reordered and re-commented it.
OWN_ORIGINAL = '''
def train_hello(model, inputs, labels, epochs=15, lr=0.1):
    # sum the loss over every step of the sequence
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(epochs):
        optimizer.zero_grad()
        hidden = model.init_hidden()
        loss = 0
        for x_t, y_t in zip(inputs, labels):
            hidden = model(x_t, hidden)
            loss = loss + criterion(hidden, y_t)
        loss.backward()
        optimizer.step()
        history.append((loss.item(), decode_word(model, inputs)))
    return history

def decode_word(model, inputs):
    # greedy decoding, one letter per step
    hidden = model.init_hidden()
    letters = []
    for x_t in inputs:
        hidden = model(x_t, hidden)
        letters.append(VOCAB[int(hidden.argmax(dim=1)[0])])
    return ''.join(letters)

def one_hot_rows(indices, size):
    table = [[0.0] * size for _ in indices]
    for row, index in enumerate(indices):
        table[row][index] = 1.0
    return table
'''
OWN_COPIED = '''
def vec(idx_list, n):
    mat = [[0.0] * n for _ in idx_list]
    for r, k in enumerate(idx_list):
        mat[r][k] = 1.0
    return mat

def guess(net, xs):
    # pick the most likely character each time
    h = net.init_hidden()
    out = []
    for x in xs:
        h = net(x, h)
        out.append(VOCAB[int(h.argmax(dim=1)[0])])
    return ''.join(out)

def fit(net, xs, ys, epochs=15, lr=0.1):
    # my training loop
    lossf = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    log = []
    for ep in range(epochs):
        opt.zero_grad()
        h = net.init_hidden()
        total = 0
        for x, y in zip(xs, ys):
            h = net(x, h)
            total = total + lossf(h, y)
        total.backward()
        opt.step()
        log.append((total.item(), guess(net, xs)))
    return log
'''
# Students who each wrote their own code (and followed the tutorial for part 3).
OWN = [
    '''
def srn(xs, W, U, V):
    state = np.zeros(W.shape[1])
    ys = []
    for x in xs:
        state = np.tanh(np.dot(x, W) + np.dot(state, U))
        ys.append(np.dot(state, V))
    return np.stack(ys)
''',
    '''
class Trainer:
    def __init__(self, net, rate):
        self.net = net
        self.opt = torch.optim.SGD(net.parameters(), lr=rate, momentum=0.9)
        self.loss = torch.nn.CrossEntropyLoss()

    def run(self, data, target, rounds):
        for _ in range(rounds):
            self.opt.zero_grad()
            logits = self.net(data).view(-1, 4)
            value = self.loss(logits, target.view(-1))
            value.backward()
            self.opt.step()
        return value.item()
''',
    '''
SHAPES = {key: value for key, value in [("input", "(L, N, H_in)"), ("h0", "(D * num_layers, N, H_out)")]}
if __name__ == "__main__":
    while True:
        answer = input("continue? ")
        if answer.strip().lower() in {"n", "no", "q"}:
            break
        print(sorted(SHAPES.items(), key=lambda item: len(item[1]), reverse=True))
''',
    '''
def encode_all(words, alphabet):
    lookup = dict(zip(alphabet, range(len(alphabet))))
    try:
        return [[lookup[ch] for ch in word] for word in words]
    except KeyError as missing:
        raise ValueError(f"letter {missing} is not in the alphabet") from None
''',
]


def _class(root: Path) -> Path:
    klass = root / "class"
    students = {"copier_a": TUTORIAL + OWN_ORIGINAL, "copier_b": OWN_COPIED + TUTORIAL}
    for index, own in enumerate(OWN):
        students[f"tutorial_{index}"] = TUTORIAL + own
    for name, code in students.items():
        (klass / name).mkdir(parents=True)
        (klass / name / "solution.py").write_text(code, encoding="utf-8")
    return klass


@pytest.mark.parametrize("known", [False, True])
def test_students_who_copied_each_other_rank_above_those_who_followed_one_tutorial(tmp_path, known):
    klass = _class(tmp_path)
    sources = []
    if known:
        (tmp_path / "known").mkdir()
        (tmp_path / "known" / "seq2seq_tutorial.py").write_text(TUTORIAL, encoding="utf-8")
        sources = [tmp_path / "known"]
    comparison = similarity(paths=[klass], out=tmp_path / "out", known=sources)
    first, second = comparison.pairs[0], comparison.pairs[1]
    assert {first.a, first.b} == {"copier_a", "copier_b"}, comparison.pairs[:3]
    assert first.score > 0.8 and second.score < first.score / 2, comparison.pairs[:3]  # a clear gap
    data = json.loads((tmp_path / "out" / "similarity.json").read_text(encoding="utf-8"))
    assert [(p["a"], p["b"]) for p in data["pairs"]] == [(p.a, p.b) for p in comparison.pairs]
    assert data["pairs"][0]["score"] >= data["pairs"][-1]["score"] and len(data["pairs"]) == 15
    page = (tmp_path / "out" / first.page).read_text(encoding="utf-8")
    assert page.count("<mark>") >= 2 and "fit(" in page and "train_hello(" in page


def test_the_handout_is_left_out(tmp_path):
    from grader.config import load_config
    from grader.similarity import StudentCode, compare_class, known_code

    handout = load_config().assignment.handout_path
    code = known_code([handout])[0]
    codes = [StudentCode(f"s{index}", ("solution.py",), code + own) for index, own in enumerate(OWN)]
    kept = compare_class(codes, known=[], common=10)  # the handout counted: everybody looks alike
    assert min(pair.score for pair in kept.pairs) > 0.8
    left_out = compare_class(codes, known=known_code([handout]), common=10)
    assert max(pair.score for pair in left_out.pairs) < 0.4, left_out.pairs[:2]  # a shared idiom at most
    klass = tmp_path / "class"  # and the command leaves the assignment's handout out by itself
    for student in codes:
        (klass / student.student).mkdir(parents=True)
        (klass / student.student / "solution.py").write_text(student.code, encoding="utf-8")
    assert similarity(paths=[klass], out=tmp_path / "out", common=10).pairs == left_out.pairs


def test_student_code_is_escaped_on_every_page_and_the_command_works(tmp_path):
    klass = tmp_path / "class"
    hostile = "def f():\n    return '</pre><script>alert(1)</script>'\n" * 3 + OWN_ORIGINAL
    for name in ("<i>eve", "mallory"):
        (klass / name).mkdir(parents=True)
        (klass / name / "solution.py").write_text(hostile, encoding="utf-8")
    result = CliRunner().invoke(cli, ["similarity", str(klass), "--out", str(tmp_path / "out"), "--lang", "zh"])
    assert result.exit_code == 0, result.output
    assert "<i>eve <-> mallory" in result.output or "mallory <-> <i>eve" in result.output
    pages = [tmp_path / "out" / "similarity.html", *(tmp_path / "out" / "similarity").glob("*.html")]
    assert len(pages) == 2
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script>alert" not in text and "<i>eve" not in text and "全班代码相似度" in text


def test_the_same_class_ranks_the_same_in_every_process(tmp_path):
    """Python's own str hash changes per process; the fingerprints must not."""
    import os
    import subprocess
    import sys

    klass = _class(tmp_path)
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        subprocess.run([sys.executable, "-m", "grader.cli", "similarity", str(klass), "--out", str(out)],
                       check=True, capture_output=True, timeout=120, env={**os.environ, "PYTHONHASHSEED": seed})
        outputs.append(json.loads((out / "similarity.json").read_text(encoding="utf-8"))["pairs"])
    assert outputs[0] == outputs[1]


def test_fingerprints_kept_on_disk_give_the_same_comparison_and_are_not_computed_again(tmp_path, monkeypatch):
    """A re-run tokenises no document it has seen (the costly part); a damaged file is computed again."""
    import copydetect.utils

    from grader import similarity as module
    from grader.submissions import discover

    codes = [code for code in map(module.code_of, discover([_class(tmp_path)])) if code is not None]
    known = [TUTORIAL]
    uncached = module.compare_class(codes, known)
    tokenised = []
    real_filter = copydetect.utils.filter_code
    monkeypatch.setattr(copydetect.utils, "filter_code", lambda *a, **k: tokenised.append(1) or real_filter(*a, **k))
    folder = tmp_path / "cache"
    first = module.compare_class(codes, known, cache=folder)
    assert len(tokenised) == len(codes) + 1  # every student's code and the known source, once
    tokenised.clear()
    second = module.compare_class(codes, known, cache=folder)
    assert tokenised == []
    assert uncached.pairs == first.pairs == second.pairs and first.pairs[0].shared_tokens > 0
    import numpy as np  # the side-by-side pages mark the same code

    assert all(np.array_equal(a, b) for a, b in zip(uncached.slices(uncached.pairs[0]), second.slices(second.pairs[0])))
    stored = sorted(folder.rglob("*.npz"))
    assert len(stored) == len(codes) + 1
    stored[0].write_bytes(b"not an archive")
    assert module.compare_class(codes, known, cache=folder).pairs == first.pairs and len(tokenised) == 1
