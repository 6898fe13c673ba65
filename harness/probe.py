"""The PEARL paraphrase probe, in plain torch, with the published hyper-parameters.

MLP input → 256 (ReLU) → 1 (sigmoid), binary cross-entropy, Adam (lr 1e-4), batches of 200
(shuffled for training). Split 80/10/10 with sklearn `train_test_split(random_state=42)`: first
80/20, then the 20 halved into test/dev. Training runs at most 100 epochs and at least 3, and stops
when the validation accuracy has not strictly improved for 5 epochs; the model of the last epoch
is tested. Accuracies are the mean over batches of per-batch accuracy (threshold 0.5), as the
published Lightning module logged them. Seeded: the same inputs give the same score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LR = 1e-4
BATCH_SIZE = 200
MAX_EPOCHS = 100
MIN_EPOCHS = 3
PATIENCE = 5
SPLIT_SEED = 42


@dataclass(frozen=True)
class ProbeResult:
    test_accuracy: float
    best_val_accuracy: float
    epochs: int


def _batch_mean_accuracy(model, x, y) -> float:
    import torch

    accs = []
    with torch.no_grad():
        for start in range(0, len(x), BATCH_SIZE):
            pred = (model(x[start:start + BATCH_SIZE]).reshape(-1) >= 0.5).long()
            accs.append((pred == y[start:start + BATCH_SIZE]).float().mean().item())
    return float(np.mean(accs))


def run_probe(features: np.ndarray, labels: np.ndarray, seed: int = 42) -> ProbeResult:
    """Train and test the probe on `features` (n × d) and binary `labels` (n)."""
    import torch
    from sklearn.model_selection import train_test_split
    from torch import nn

    x_train, x_rest, y_train, y_rest = train_test_split(features, labels, test_size=0.2, random_state=SPLIT_SEED)
    x_test, x_dev, y_test, y_dev = train_test_split(x_rest, y_rest, test_size=0.5, random_state=SPLIT_SEED)
    as_x = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    as_y = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))  # noqa: E731
    x_train, x_dev, x_test = as_x(x_train), as_x(x_dev), as_x(x_test)
    y_train, y_dev, y_test = as_y(y_train), as_y(y_dev), as_y(y_test)

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(features.shape[1], 256), nn.ReLU(), nn.Linear(256, 1), nn.Sigmoid())
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.BCELoss()
    shuffle = torch.Generator().manual_seed(seed)

    best, wait, epoch = -np.inf, 0, 0
    for epoch in range(1, MAX_EPOCHS + 1):
        model.train()
        order = torch.randperm(len(x_train), generator=shuffle)
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[idx]).reshape(-1), y_train[idx].float())
            loss.backward()
            optimizer.step()
        model.eval()
        val = _batch_mean_accuracy(model, x_dev, y_dev)
        if val > best:
            best, wait = val, 0
        else:
            wait += 1
        if wait >= PATIENCE and epoch >= MIN_EPOCHS:
            break
    return ProbeResult(_batch_mean_accuracy(model, x_test, y_test), float(best), epoch)
