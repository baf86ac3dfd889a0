"""The tutorial's PyTorch code for the same networks, on CPU torch.

The classic loop: a ``DataLoader`` over tensors, ``zero_grad`` / forward /
``backward`` / ``step``, with running loss and accuracy kept as the
tutorial keeps them. Layers mirror the Keras ones (PyTorch's
``CrossEntropyLoss`` takes logits, so the softmax lives in the loss).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from benchmarks.programs.common import arrays, parse, report


def mnist_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(64, 10),
    )  # fmt: skip


def cifar10_cnn() -> nn.Module:
    layers: list[nn.Module] = []
    channels = 3
    for filters in (32, 64, 128):
        for _ in range(2):
            layers += [
                nn.Conv2d(channels, filters, 3, padding=1, bias=False),
                nn.BatchNorm2d(filters),
                nn.ReLU(),
            ]
            channels = filters
        layers += [nn.MaxPool2d(2), nn.Dropout(0.25)]
    layers += [
        nn.Flatten(),
        nn.Linear(128 * 4 * 4, 128, bias=False),
        nn.BatchNorm1d(128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
    ]
    return nn.Sequential(*layers)


class LSTMText(nn.Module):
    """``lstm_text``: Embedding 20,000 x 128, LSTM 128 (sequences), Dropout, LSTM 64 (last
    state), Dropout, Dense 64 ReLU, Dense 2. Like most PyTorch tutorials it runs the LSTMs
    over the padded length; Keras' masked LSTM does the same work, carrying its state over
    the padding."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(20_000, 128, padding_idx=0)
        self.lstm1 = nn.LSTM(128, 128, batch_first=True)
        self.lstm2 = nn.LSTM(128, 64, batch_first=True)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x, _ = self.lstm1(self.embedding(ids))
        _, (h, _) = self.lstm2(self.dropout(x))
        return self.head(self.dropout(h[-1]))


class TransformerText(nn.Module):
    """``transformer_text``: token and learned position embeddings (32 wide), one post-norm
    block as the Keras tutorial writes it (2 heads of 32 each, so attention projects to
    64 and back; feed-forward 32; dropout 0.1), average pooling, Dense 20 ReLU, Dense 2.
    ``nn.TransformerEncoderLayer`` would split 32 into 2 heads of 16: a smaller network."""

    def __init__(self, length: int = 200, width: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.heads, self.head_size = heads, width
        self.tokens = nn.Embedding(20_000, width)
        self.positions = nn.Embedding(length, width)
        self.qkv = nn.Linear(width, 3 * heads * width)
        self.out = nn.Linear(heads * width, width)
        self.norm1, self.norm2 = nn.LayerNorm(width, eps=1e-6), nn.LayerNorm(width, eps=1e-6)
        self.ff = nn.Sequential(
            nn.Linear(width, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, width)
        )
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Sequential(
            nn.Linear(width, 20), nn.ReLU(), nn.Dropout(0.1), nn.Linear(20, 2)
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        n, length = ids.shape
        x = self.tokens(ids) + self.positions(torch.arange(length))
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, self.head_size).permute(2, 0, 3, 1, 4)
        attn = nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=0.1 if self.training else 0.0
        )
        attn = self.out(attn.transpose(1, 2).reshape(n, length, -1))
        x = self.norm1(x + self.dropout(attn))
        x = self.norm2(x + self.ff(x))
        return self.head(self.dropout(x.mean(dim=1)))


NETWORKS = {"mnist_mlp": mnist_mlp, "cifar10_cnn": cifar10_cnn, "lstm_text": LSTMText,
            "transformer_text": TransformerText}  # fmt: skip


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    torch.set_num_threads(os.cpu_count() or 1)
    for name in args.model:
        x, y, spec = arrays(args.data, name)
        if x.ndim == 4:
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # NHWC -> NCHW
        if x.dtype.kind in "iu":
            x = x.astype("int64")  # token ids: nn.Embedding takes int64
        labels = torch.from_numpy(y.astype("int64"))
        data = torch.utils.data.TensorDataset(torch.from_numpy(x), labels)
        loader = torch.utils.data.DataLoader(data, batch_size=spec["batch_size"], shuffle=True)
        model = NETWORKS[name]()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()

        def fit(epochs, model=model, loader=loader, optimizer=optimizer, loss_fn=loss_fn):
            model.train()
            for _ in range(epochs):
                running_loss, correct = 0.0, 0
                for xb, yb in loader:
                    optimizer.zero_grad()
                    out = model(xb)
                    loss = loss_fn(out, yb)
                    loss.backward()
                    optimizer.step()
                    running_loss += loss.item()
                    correct += (out.argmax(1) == yb).sum().item()

        report(name, len(x), fit, args.epochs)


if __name__ == "__main__":
    main()
