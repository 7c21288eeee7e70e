import numpy as np
import torch
import torch.nn as nn


LETTERS = 'SE?abcdefghijklmnopqrstuvwxyz'
PAIRS = [('man', 'women'), ('black', 'white'), ('king', 'queen'),
         ('girl', 'boy'), ('up', 'down'), ('high', 'low')]


def make_data(pairs, n_step=5):
    position = {char: index for index, char in enumerate(LETTERS)}
    table = np.eye(len(LETTERS), dtype=np.float32)
    encoder_rows, decoder_rows, target_rows = [], [], []
    for word, target in pairs:
        word_padded = word + '?' * (n_step - len(word))
        target_padded = target + '?' * (n_step - len(target))
        encoder_rows.append(table[[position[c] for c in word_padded + 'E']])
        decoder_rows.append(table[[position[c] for c in 'S' + target_padded]])
        target_rows.append([position[c] for c in target_padded + 'E'])
    return (torch.tensor(np.array(encoder_rows)), torch.tensor(np.array(decoder_rows)),
            torch.tensor(target_rows, dtype=torch.long))


class Seq2Seq(nn.Module):
    def __init__(self, n_class=29, n_hidden=128):
        super().__init__()
        self.n_hidden = n_hidden
        self.encoder = nn.RNN(input_size=n_class, hidden_size=n_hidden)
        self.decoder = nn.RNN(input_size=n_class, hidden_size=n_hidden)
        self.fc = nn.Linear(n_hidden, n_class)

    def forward(self, enc_input, enc_hidden, dec_input):
        _, context = self.encoder(enc_input.transpose(0, 1), enc_hidden)
        decoded, _ = self.decoder(dec_input.transpose(0, 1), context)
        return self.fc(decoded)


def train_seq2seq(model, pairs, epochs, device, lr=1e-3, batch_size=3):
    model.to(device)
    enc_all, dec_all, target_all = make_data(pairs)
    dataset = torch.utils.data.TensorDataset(enc_all, dec_all, target_all)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for enc_batch, dec_batch, target_batch in loader:
            enc_batch, dec_batch = enc_batch.to(device), dec_batch.to(device)
            target_batch = target_batch.to(device)
            h0 = torch.zeros(1, enc_batch.shape[0], model.n_hidden, device=device)
            logits = model(enc_batch, h0, dec_batch)               # (T, B, C)
            loss = criterion(logits.reshape(-1, logits.shape[-1]), target_batch.t().reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(loader))
    return losses


def translate(model, word, device):
    # Greedy decoding: each predicted letter becomes the next decoder input.
    model.eval()
    n_step = 5
    enc_input, _, _ = make_data([(word, '')], n_step=max(n_step, len(word)))
    enc_input = enc_input.to(device)
    position = {char: index for index, char in enumerate(LETTERS)}
    decoder_input = torch.zeros(1, 1, len(LETTERS), device=device)
    decoder_input[0, 0, position['S']] = 1.0
    letters = []
    with torch.no_grad():
        h0 = torch.zeros(1, 1, model.n_hidden, device=device)
        for _ in range(n_step + 1):
            logits = model(enc_input, h0, decoder_input)          # (t, 1, C)
            letter = LETTERS[logits[-1, 0].argmax().item()]
            if letter == 'E':
                break
            letters.append(letter)
            step = torch.zeros(1, 1, len(LETTERS), device=device)
            step[0, 0, position[letter]] = 1.0
            decoder_input = torch.cat([decoder_input, step], dim=1)
    return ''.join(letters).replace('?', '')
