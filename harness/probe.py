"""The PEARL paraphrase probe, in plain torch, with the published hyper-parameters.

MLP input → 256 (ReLU) → 1 (sigmoid), binary cross-entropy, Adam (lr 1e-4), batches of 200
(shuffled for training). Split 80/10/10 with sklearn `train_test_split(random_state=42)`: first
80/20, then the 20 halved into test/dev. Training runs at most 100 epochs and at least 3, and stops
when the validation accuracy has not strictly improved for 5 epochs; the model of the last epoch
is tested. Accuracies are the mean over batches of per-batch accuracy (threshold 0.5), as the
published Lightning module logged them.

Stability: early stopping turns a last-bit difference in a floating-point kernel into a different
epoch count, so float32 training gave scores several points apart on two CPUs. The probe trains in
float64, on one thread, with torch's deterministic algorithms: the same inputs give the same score
on one machine, and kernel differences between machines are ~1e-16 instead of ~1e-7 relative.
The protocol's seed (42) gives the main score; `spread` retrains with further seeds (the split
stays the protocol's) to show how much the score moves with the seed alone.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

LR = 1e-4
BATCH_SIZE = 200
MAX_EPOCHS = 100
MIN_EPOCHS = 3
PATIENCE = 5
SPLIT_SEED = 42
SEED = 42
DTYPE = "float64"


@dataclass(frozen=True)
class ProbeResult:
    test_accuracy: float
    best_val_accuracy: float
    epochs: int
    seed: int = SEED


@contextlib.contextmanager
def _reproducible(threads: int = 1) -> Iterator[None]:
    """One thread and deterministic kernels for the duration of a probe; the caller's settings come back."""
    import torch

    previous = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1])


def _batch_mean_accuracy(model, x, y) -> float:
    import torch

    accs = []
    with torch.no_grad():
        for start in range(0, len(x), BATCH_SIZE):
            pred = (model(x[start:start + BATCH_SIZE]).reshape(-1) >= 0.5).long()
            accs.append((pred == y[start:start + BATCH_SIZE]).double().mean().item())
    return float(np.mean(accs))


def split(features: np.ndarray, labels: np.ndarray):
    """The protocol's 80/10/10 split: (x_train, x_dev, x_test, y_train, y_dev, y_test)."""
    from sklearn.model_selection import train_test_split

    x_train, x_rest, y_train, y_rest = train_test_split(features, labels, test_size=0.2, random_state=SPLIT_SEED)
    x_test, x_dev, y_test, y_dev = train_test_split(x_rest, y_rest, test_size=0.5, random_state=SPLIT_SEED)
    return x_train, x_dev, x_test, y_train, y_dev, y_test


def run_probe(features: np.ndarray, labels: np.ndarray, seed: int = SEED, dtype: str = DTYPE) -> ProbeResult:
    """Train and test the probe on `features` (n × d) and binary `labels` (n)."""
    import torch
    from torch import nn

    torch_dtype = getattr(torch, dtype)
    parts = split(features, labels)
    x_train, x_dev, x_test = (torch.from_numpy(np.ascontiguousarray(a, dtype=dtype)) for a in parts[:3])
    y_train, y_dev, y_test = (torch.from_numpy(np.asarray(a, dtype=np.int64)) for a in parts[3:])
    with _reproducible():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(features.shape[1], 256), nn.ReLU(), nn.Linear(256, 1), nn.Sigmoid())
        model = model.to(torch_dtype)
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
                loss = loss_fn(model(x_train[idx]).reshape(-1), y_train[idx].to(torch_dtype))
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
        return ProbeResult(_batch_mean_accuracy(model, x_test, y_test), float(best), epoch, seed)


def run_with_spread(features: np.ndarray, labels: np.ndarray, extra_seeds: int) -> tuple[ProbeResult, dict | None]:
    """The protocol's run (seed 42), and, with `extra_seeds` > 0, the probe retrained with seeds 43, 44, …
    (same split): every run's test accuracy and epochs, and their mean and sample standard deviation."""
    main = run_probe(features, labels, SEED)
    if extra_seeds <= 0:
        return main, None
    runs = [main] + [run_probe(features, labels, SEED + i) for i in range(1, extra_seeds + 1)]
    accs = [r.test_accuracy for r in runs]
    return main, {"seeds": [r.seed for r in runs], "accuracies": accs, "epochs": [r.epochs for r in runs],
                  "mean": statistics.fmean(accs), "std": statistics.stdev(accs)}
