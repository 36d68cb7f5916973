"""PyTorch peer of bench_train: the same models, optimizer, batch, data and thread count."""
import argparse, gzip, os, resource, sys, time

import numpy as np
import torch
from torch import nn


def load(directory, prefix):
    def read(name):
        path = os.path.join(directory, name)
        opener = gzip.open if os.path.exists(path + ".gz") else open
        with opener(path + (".gz" if os.path.exists(path + ".gz") else ""), "rb") as f:
            return f.read()
    images = np.frombuffer(read(f"{prefix}-images-idx3-ubyte"), np.uint8, offset=16).reshape(-1, 784)
    labels = np.frombuffer(read(f"{prefix}-labels-idx1-ubyte"), np.uint8, offset=8)
    return torch.tensor(images.astype(np.float32) / 255.0 - 0.5), torch.tensor(labels.astype(np.int64))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlp")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    x, y = load(a.data, "train")
    tx, ty = load(a.data, "t10k")
    if a.model == "mlp":
        model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 64), nn.ReLU(),
                              nn.Dropout(0.2), nn.Linear(64, 10))
        # Keras RMSprop(0.0015): rho 0.9, epsilon 1e-7.
        opt = torch.optim.RMSprop(model.parameters(), lr=0.0015, alpha=0.9, eps=1e-7)
    else:
        model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128),
                              nn.ReLU(), nn.Linear(128, 10))
        opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()  # softmax + sparse categorical crossentropy
    for epoch in range(a.epochs):
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), a.batch):
            idx = perm[i:i + a.batch]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            acc = (model(tx).argmax(1) == ty).float().mean().item()
        print(f"torch {a.model} epoch {epoch + 1}: {seconds:.3f} s, test accuracy {acc:.4f}")
    print(f"torch {a.model} peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
