# %% [markdown]
# # RNN basics homework / 循环神经网络基础作业
#
# **English.** Six parts: a simple recurrent network (SRN) by hand and with PyTorch, the character model
# "hello" -> "ohlol", an encoder-decoder that maps six words to their opposites, and three written answers.
# Implement every function and class below with exactly the given name and signature: the grader calls
# them. Helpers of your own are welcome. Cells that only print or plot are for you; the grader ignores
# what your notebook prints and calls your functions with its own inputs. Put your try-it code under
# `if __name__ == "__main__":` as the demo cells below do: the grader runs your notebook the way a module
# is imported, so those blocks (and long training runs in them) do not run when grading; all other
# top-level code does, so keep definitions outside them.
#
# **中文。** 共六部分:手写与用 PyTorch 实现简单循环网络(SRN)、字符模型 "hello" -> "ohlol"、把六个单词映射到
# 反义词的编码器-解码器,以及三道文字题。请按给定的名字和签名实现下面的每个函数和类,评分程序会直接调用它们;
# 可以自行添加辅助函数。只打印或画图的单元格仅供你自己检查,评分程序不读取输出,而是用自己的输入调用你的函数。
# 试运行的代码请写在 `if __name__ == "__main__":` 之下(如下面的演示单元格):评分时 notebook 像模块一样被导入,
# 这些代码块(以及其中耗时的训练)不会运行;其余顶层代码照常运行,所以函数和类的定义不要放在其中。
#
# Self-check before you submit / 提交前自检: `grade check homework.ipynb` (written parts are graded by a person / 文字题由老师评分).

# %%
import numpy as np
import torch
import torch.nn as nn

# %% [markdown]
# ## Part 1 / 第一部分: simple recurrent network (SRN) / 简单循环网络
#
# ### 1.1 and 1.2: numpy
# `srn_numpy(inputs, W, U, V, h0=None, activation=None)`: `inputs` (T, I), `W` (I, H), `U` (H, H),
# `V` (H, O), `h0` (H,) or `None` for zeros, `activation` a callable such as `np.tanh`, or `None` for none.
# Compute h_t = act(x_t·W + h_{t-1}·U) and y_t = h_t·V; return all y_t as a numpy array (T, O).
#
# 用 numpy 实现:h_t = act(x_t·W + h_{t-1}·U),y_t = h_t·V,返回形状为 (T, O) 的数组。
# With all weights 1, h0 = 0 and inputs [[1, 1], [1, 1], [2, 2]] the outputs are 4, 12, 32 without an
# activation and 1.92806, 1.99845, 1.99998 with tanh (both outputs equal).


# %%
def srn_numpy(inputs, W, U, V, h0=None, activation=None):
    ### BEGIN SOLUTION
    inputs = np.asarray(inputs, dtype=float)
    hidden = np.zeros(np.shape(W)[1]) if h0 is None else np.asarray(h0, dtype=float)
    outputs = []
    for x_t in inputs:
        hidden = x_t @ W + hidden @ U
        if activation is not None:
            hidden = activation(hidden)
        outputs.append(hidden @ V)
    return np.array(outputs)
    ### END SOLUTION


# %%
if __name__ == "__main__":
    ### BEGIN DEMO
    example = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    ones = np.ones((2, 2))
    print(srn_numpy(example, ones, ones, ones))
    print(srn_numpy(example, ones, ones, ones, activation=np.tanh))
    ### END DEMO

# %% [markdown]
# ### 1.3: `nn.RNNCell`
# `make_srn_cell(input_size, hidden_size, output_size)` returns `(cell, linear)`: an `nn.RNNCell` and an
# `nn.Linear` whose weights are all 1 and biases all 0. `srn_cell(inputs, h0, cell, linear)` takes inputs
# (T, B, I) and h0 (B, H), runs the cell step by step and returns `(Y, h_T)`: Y (T, B, O), h_T (B, H).
#
# 用 `nn.RNNCell` 按时间步循环。权重全为 1、偏置全为 0;h0 全为 1 时,上例输出为 1.99866, 1.99865, 1.99998。


# %%
### BEGIN SOLUTION
def _fill_weights_ones_biases_zeros(module):
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            parameter.fill_(1.0 if name.startswith("weight") else 0.0)
### END SOLUTION


def make_srn_cell(input_size, hidden_size, output_size):
    ### BEGIN SOLUTION
    cell = nn.RNNCell(input_size=input_size, hidden_size=hidden_size)
    linear = nn.Linear(hidden_size, output_size)
    _fill_weights_ones_biases_zeros(cell)
    _fill_weights_ones_biases_zeros(linear)
    return cell, linear
    ### END SOLUTION


def srn_cell(inputs, h0, cell, linear):
    ### BEGIN SOLUTION
    hidden = h0
    outputs = []
    for x_t in inputs:
        hidden = cell(x_t, hidden)
        outputs.append(linear(hidden))
    return torch.stack(outputs), hidden
    ### END SOLUTION


# %%
if __name__ == "__main__":
    ### BEGIN DEMO
    cell, linear = make_srn_cell(2, 2, 2)
    sequence = torch.tensor([[[1.0, 1.0]], [[1.0, 1.0]], [[2.0, 2.0]]])
    Y, h_T = srn_cell(sequence, torch.ones(1, 2), cell, linear)
    print(Y.squeeze(1), h_T)
    ### END DEMO

# %% [markdown]
# ### 1.4: `nn.RNN`
# `make_srn_rnn(input_size, hidden_size, output_size, num_layers=1)` returns `(rnn, linear)`, weights 1
# and biases 0. `srn_rnn(inputs, h0, rnn, linear)` takes inputs (T, B, I) and h0 (L, B, H) and returns
# `(out, h_n, Y)`: out (T, B, H), h_n (L, B, H) and Y = linear(out), (T, B, O).
#
# 用 `nn.RNN` 一次处理整个序列;注意 h_n 的形状是 (num_layers, batch, hidden_size)。


# %%
def make_srn_rnn(input_size, hidden_size, output_size, num_layers=1):
    ### BEGIN SOLUTION
    rnn = nn.RNN(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
    linear = nn.Linear(hidden_size, output_size)
    _fill_weights_ones_biases_zeros(rnn)
    _fill_weights_ones_biases_zeros(linear)
    return rnn, linear
    ### END SOLUTION


def srn_rnn(inputs, h0, rnn, linear):
    ### BEGIN SOLUTION
    out, h_n = rnn(inputs, h0)
    return out, h_n, linear(out)
    ### END SOLUTION


# %%
if __name__ == "__main__":
    ### BEGIN DEMO
    rnn, linear = make_srn_rnn(2, 2, 2)
    out, h_n, Y = srn_rnn(sequence, torch.zeros(1, 1, 2), rnn, linear)
    print(out.shape, h_n.shape, Y.squeeze(1))
    ### END DEMO

# %% [markdown]
# ## Part 2 / 第二部分: "hello" -> "ohlol"
#
# `encode(text, vocab)` returns the list of indices (`encode('hello', HELLO_VOCAB) == [1, 0, 2, 2, 3]`);
# `one_hot(indices, n_class)` returns a float tensor (len, 1, n_class).
#
# ### 2.1: `nn.RNNCell`
# `HelloCell(input_size, hidden_size, batch_size)` with `forward(x_t, hidden)`: (B, I), (B, H) -> (B, H)
# and `init_hidden()` -> zeros (B, H). `train_hello_cell(model, inputs, labels, epochs=15, lr=0.1)`
# trains with cross-entropy summed over the time steps and Adam, and returns one `(loss, predicted_string)`
# per epoch. `inputs` is (T, B, I) one-hot, `labels` a long tensor (T, B).
#
# ### 2.2: `nn.RNN`
# `HelloRNN(input_size, hidden_size, batch_size, num_layers=1)` with `forward(inputs)`: (T, B, I) ->
# logits (T*B, H). `train_hello_rnn(model, inputs, labels, epochs=15, lr=0.1)`: as above; flatten the
# labels to (T*B,) for the loss.
#
# 用 RNNCell 与 RNN 两种方式训练 "hello" -> "ohlol";训练函数每个 epoch 返回一个 (损失, 预测字符串)。

# %%
HELLO_VOCAB = ['e', 'h', 'l', 'o']


def encode(text, vocab):
    ### BEGIN SOLUTION
    position = {char: index for index, char in enumerate(vocab)}
    return [position[char] for char in text]
    ### END SOLUTION


def one_hot(indices, n_class):
    ### BEGIN SOLUTION
    table = torch.eye(n_class)
    return table[torch.as_tensor(list(indices), dtype=torch.long)].unsqueeze(1)
    ### END SOLUTION


# %%
class HelloCell(nn.Module):
    def __init__(self, input_size, hidden_size, batch_size):
        super().__init__()
        ### BEGIN SOLUTION
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.cell = nn.RNNCell(input_size=input_size, hidden_size=hidden_size)
        ### END SOLUTION

    def forward(self, x_t, hidden):
        ### BEGIN SOLUTION
        return self.cell(x_t, hidden)
        ### END SOLUTION

    def init_hidden(self):
        ### BEGIN SOLUTION
        return torch.zeros(self.batch_size, self.hidden_size)
        ### END SOLUTION


def train_hello_cell(model, inputs, labels, epochs=15, lr=0.1):
    ### BEGIN SOLUTION
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
    ### END SOLUTION


# %%
class HelloRNN(nn.Module):
    def __init__(self, input_size, hidden_size, batch_size, num_layers=1):
        super().__init__()
        ### BEGIN SOLUTION
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.rnn = nn.RNN(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        ### END SOLUTION

    def forward(self, inputs):
        ### BEGIN SOLUTION
        h0 = torch.zeros(self.num_layers, inputs.shape[1], self.hidden_size)
        out, _ = self.rnn(inputs, h0)
        return out.reshape(-1, self.hidden_size)
        ### END SOLUTION


def train_hello_rnn(model, inputs, labels, epochs=15, lr=0.1):
    ### BEGIN SOLUTION
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
    ### END SOLUTION


# %%
if __name__ == "__main__":
    ### BEGIN DEMO
    torch.manual_seed(0)
    hello_inputs = one_hot(encode('hello', HELLO_VOCAB), 4)
    hello_labels = torch.tensor(encode('ohlol', HELLO_VOCAB)).view(-1, 1)
    for loss, word in train_hello_cell(HelloCell(4, 4, 1), hello_inputs, hello_labels, epochs=30)[-3:]:
        print(f'RNNCell loss={loss:.4f} predicted={word}')
    for loss, word in train_hello_rnn(HelloRNN(4, 4, 1), hello_inputs, hello_labels, epochs=30)[-3:]:
        print(f'RNN     loss={loss:.4f} predicted={word}')
    ### END DEMO

# %% [markdown]
# ## Part 3 / 第三部分: encoder-decoder seq2seq / 编码器-解码器
#
# Symbols: `S` starts the decoder input, `E` ends the output, `?` pads a word to `n_step` letters.
# `make_data(pairs, n_step=5)` returns `(enc_input, dec_input, dec_output)`: float (N, n_step+1, C)
# one-hot of word + padding + 'E'; float (N, n_step+1, C) one-hot of 'S' + target + padding; long
# (N, n_step+1) indices of target + padding + 'E'. `Seq2Seq(n_class=29, n_hidden=128)` has an `nn.RNN`
# encoder and decoder; `forward(enc_input, enc_hidden, dec_input)`: (B, T, C), (1, B, H), (B, T, C) ->
# logits (T, B, C). The decoder starts from the encoder's last hidden state.
# `train_seq2seq(model, pairs, epochs, device, lr=1e-3, batch_size=3)` returns the per-epoch losses and
# continues from the model's current weights. `translate(model, word, device)` returns a string.
#
# 编码器的最后隐状态作为解码器的初始隐状态;训练函数可以被多次调用,在已有权重上继续训练。

# %%
LETTERS = 'SE?abcdefghijklmnopqrstuvwxyz'
PAIRS = [('man', 'women'), ('black', 'white'), ('king', 'queen'),
         ('girl', 'boy'), ('up', 'down'), ('high', 'low')]


def make_data(pairs, n_step=5):
    ### BEGIN SOLUTION
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
    ### END SOLUTION


# %%
class Seq2Seq(nn.Module):
    def __init__(self, n_class=29, n_hidden=128):
        super().__init__()
        ### BEGIN SOLUTION
        self.n_hidden = n_hidden
        self.encoder = nn.RNN(input_size=n_class, hidden_size=n_hidden)
        self.decoder = nn.RNN(input_size=n_class, hidden_size=n_hidden)
        self.fc = nn.Linear(n_hidden, n_class)
        ### END SOLUTION

    def forward(self, enc_input, enc_hidden, dec_input):
        ### BEGIN SOLUTION
        _, context = self.encoder(enc_input.transpose(0, 1), enc_hidden)
        decoded, _ = self.decoder(dec_input.transpose(0, 1), context)
        return self.fc(decoded)
        ### END SOLUTION


def train_seq2seq(model, pairs, epochs, device, lr=1e-3, batch_size=3):
    ### BEGIN SOLUTION
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
    ### END SOLUTION


def translate(model, word, device):
    ### BEGIN SOLUTION
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
    ### END SOLUTION


# %%
if __name__ == "__main__":
    ### BEGIN DEMO
    torch.manual_seed(0)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    translator = Seq2Seq()
    seq2seq_losses = train_seq2seq(translator, PAIRS, epochs=300, device=device)
    print(f'final loss {seq2seq_losses[-1]:.4f}')
    for word, _ in PAIRS:
        print(word, '->', translate(translator, word, device))
    ### END DEMO

# %% [markdown]
# ## Part 4 / 第四部分: `nn.RNNCell` and `nn.RNN` in summary / 总结
#
# Fill `RNN_SHAPES` with the shape of each tensor, written with the names `batch`, `seq_len`,
# `input_size`, `hidden_size` and `num_layers`, e.g. `'(batch, input_size)'` (default
# `batch_first=False`). Then answer in the cell below: what does each module compute, and how do they
# relate?
#
# 用 batch、seq_len、input_size、hidden_size、num_layers 写出各张量的形状,并在下方单元格中总结两者的计算与关系。

# %%
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
### BEGIN SOLUTION
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
### END SOLUTION

# %% [markdown] answer=4
# ### Part 4 answer / 第四部分作答
# <!-- BEGIN SOLUTION -->
# **English.** `nn.RNNCell(input_size, hidden_size)` computes one time step:
# h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh). Its input is (batch, input_size), the hidden state
# (batch, hidden_size); `weight_ih` is (hidden_size, input_size) and `weight_hh` (hidden_size, hidden_size),
# and the same weights are shared by every time step. To process a sequence you loop over time yourself
# and feed each new hidden state back in. `nn.RNN(input_size, hidden_size, num_layers)` runs that loop for
# you over the whole sequence: input (seq_len, batch, input_size), h0 (num_layers, batch, hidden_size); it
# returns `output` (seq_len, batch, hidden_size), the last layer's hidden state at every step, and `h_n`
# (num_layers, batch, hidden_size), the final hidden state of every layer. With `num_layers` > 1 each layer
# feeds its outputs to the next one. So an RNN is an RNNCell unrolled over time (and stacked in layers).
#
# **中文。** `nn.RNNCell` 只计算一个时间步:h' = tanh(W_ih·x + b_ih + W_hh·h + b_hh),输入形状
# (batch, input_size),隐状态 (batch, hidden_size),weight_ih 为 (hidden_size, input_size),
# weight_hh 为 (hidden_size, hidden_size),所有时间步共享同一组权重,需要自己写循环把隐状态传给下一步。
# `nn.RNN` 在整个序列上完成这个循环,输入 (seq_len, batch, input_size),h0 为
# (num_layers, batch, hidden_size),返回 output(每个时间步最后一层的隐状态,(seq_len, batch, hidden_size))
# 和 h_n(每层最后时刻的隐状态,(num_layers, batch, hidden_size))。多层时下一层以上一层的输出为输入。
# <!-- END SOLUTION -->

# %% [markdown]
# ## Part 5 / 第五部分: "sequence" and "sequence to sequence" / 谈谈“序列”与“序列到序列”

# %% [markdown] answer=5
# ### Part 5 answer / 第五部分作答
# <!-- BEGIN SOLUTION -->
# **English.** A sequence is an ordered collection of elements (words, characters, prices, sensor
# readings over time) where the order carries meaning: later elements depend on earlier ones, and
# shuffling them changes what the data says; its length can vary. Sequence to sequence (seq2seq) maps an
# input sequence to an output sequence whose length may differ, such as translation, summarisation or
# speech recognition. The classic design is an encoder-decoder: the encoder RNN reads the input and
# compresses it into a context vector (its final hidden state); the decoder RNN starts from that state and
# produces the output one token at a time, from a start symbol until an end symbol. A single fixed-size
# context vector struggles with long inputs, which is what attention and later the Transformer address.
#
# **中文。** 序列是按时间或顺序排列的一组元素(文字、字符、股价、传感器读数),顺序本身有意义,前后元素相互依赖,
# 打乱顺序就改变了含义,长度也可以不固定。序列到序列(seq2seq)把一个输入序列映射为另一个输出序列,两者长度可以
# 不同,例如机器翻译、摘要、语音识别。经典结构是编码器-解码器:编码器读入输入序列,把信息压缩成上下文向量
# (最后的隐状态);解码器以它为初始状态,从起始符开始逐个生成输出,直到结束符。固定长度的上下文向量难以表示长
# 序列,注意力机制和 Transformer 正是为此提出的。
# <!-- END SOLUTION -->

# %% [markdown]
# ## Part 6 / 第六部分: reflection / 心得体会

# %% [markdown] answer=6
# ### Part 6 answer / 第六部分作答
# <!-- BEGIN SOLUTION -->
# **English.** Writing the SRN in numpy first showed me that a recurrent layer is just two fully connected
# maps, one from the input and one from the previous hidden state, with the same weights reused at every
# step; the all-ones example made it easy to check by hand (4, 12, 32) and to see how tanh saturates near 2.
# `nn.RNNCell` and `nn.RNN` then compute the same thing, and most of my mistakes were about shapes: the
# hidden state of `nn.RNN` has a num_layers dimension and its input puts seq_len first. Training "hello" ->
# "ohlol" taught me that the loss must be summed over all time steps, and that with only 15 epochs the
# result depends on the random initialisation. The seq2seq model finally showed how an encoder's last
# hidden state can carry a word to a decoder. Next I want to understand LSTM/GRU and attention.
#
# **中文。** 先用 numpy 手写 SRN,让我明白循环层就是输入和上一时刻隐状态两个全连接,且每个时间步共享权重;
# 全 1 权重的例子可以手算验证(4、12、32),也能看到 tanh 在 2 附近饱和。之后用 RNNCell 和 RNN 实现同样的计算,
# 我出错最多的是形状:RNN 的隐状态多了 num_layers 维,输入的第一维是 seq_len。训练 hello -> ohlol 时我体会到
# 损失要对所有时间步求和,而只训练 15 个 epoch 时结果受随机初始化影响。最后的 seq2seq 让我看到编码器的最后隐状态
# 如何把一个单词传给解码器。接下来想学习 LSTM/GRU 和注意力机制。
# <!-- END SOLUTION -->
