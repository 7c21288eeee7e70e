import numpy as np
import torch
import torch.nn as nn


HELLO_VOCAB = ['e', 'h', 'l', 'o']


def encode(text, vocab):
    position = {char: index for index, char in enumerate(vocab)}
    return [position[char] for char in text]


def one_hot(indices, n_class):
    table = torch.eye(n_class)
    return table[torch.as_tensor(list(indices), dtype=torch.long)].unsqueeze(1)


class HelloCell(nn.Module):
    def __init__(self, input_size, hidden_size, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.cell = nn.RNNCell(input_size=input_size, hidden_size=hidden_size)

    def forward(self, x_t, hidden):
        return self.cell(x_t, hidden)

    def init_hidden(self):
        return torch.zeros(self.batch_size, self.hidden_size)


def train_hello_cell(model, inputs, labels, epochs=15, lr=0.1):
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        hidden = model.init_hidden()
        loss = 0
        predicted = []
        for x_t, label in zip(inputs, labels):
            hidden = model(x_t, hidden)
            loss = loss + criterion(hidden, label)
            predicted.append(HELLO_VOCAB[hidden.argmax(dim=1)[0].item()])
        loss.backward()
        optimizer.step()
        history.append((loss.item(), ''.join(predicted)))
    return history


class HelloRNN(nn.Module):
    def __init__(self, input_size, hidden_size, batch_size, num_layers=1):
        super().__init__()
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.rnn = nn.RNN(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)

    def forward(self, inputs):
        h0 = torch.zeros(self.num_layers, inputs.shape[1], self.hidden_size)
        out, _ = self.rnn(inputs, h0)
        return out.reshape(-1, self.hidden_size)


def train_hello_rnn(model, inputs, labels, epochs=15, lr=0.1):
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    targets = labels.reshape(-1)
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        logits = model(inputs)
        loss = criterion(logits, targets)
        loss.backward()
        optimizer.step()
        predicted = ''.join(HELLO_VOCAB[i] for i in logits.argmax(dim=1).tolist())
        history.append((loss.item(), predicted))
    return history
