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


NETWORKS = {"mnist_mlp": mnist_mlp, "cifar10_cnn": cifar10_cnn}


def main() -> None:
    args = parse(__doc__.splitlines()[0])
    torch.set_num_threads(os.cpu_count() or 1)
    for name in args.model:
        x, y, spec = arrays(args.data, name)
        if x.ndim == 4:
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # NHWC -> NCHW
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
