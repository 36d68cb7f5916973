"""PyTorch peer of bench_train: the same models, optimizer, batch, data and thread count, PyTorch
configured as its users would: OpenBLAS on one thread under PyTorch's own OpenMP threads,
channels_last for the CNN, inference_mode for the test set.

  python3 bench/torch_peer.py --model mlp|cnn [--batch B] [--optimizer rmsprop|adam] [--epochs N] [--threads T]

Prints its configuration (the BLAS it really runs on, threads, layout), each epoch's time (the
training loop only: the data are float tensors in memory before the clock starts, as in
bench_train), the first epoch's test accuracy and the peak RSS.
"""
import argparse, ctypes, gzip, os, resource, sys, time

# Before torch loads OpenBLAS and OpenMP: OpenBLAS's own threads would compete with PyTorch's.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import torch
from torch import nn


def load(directory, prefix):
    def read(name):
        path = os.path.join(directory, name)
        if os.path.exists(path + ".gz"):
            with gzip.open(path + ".gz", "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    images = np.frombuffer(read(f"{prefix}-images-idx3-ubyte"), np.uint8, offset=16).reshape(-1, 784)
    labels = np.frombuffer(read(f"{prefix}-labels-idx1-ubyte"), np.uint8, offset=8)
    # One float buffer, scaled in place: temporaries here would count in the peak RSS.
    x = torch.from_numpy(images.copy()).float().div_(255.0).sub_(0.5)
    return x, torch.from_numpy(labels.astype(np.int64))


def blas_in_use():
    """The BLAS PyTorch's products really call: (kind, library). The library that provides the
    sgemm_ libtorch_cpu binds to (OpenBLAS's liblapack maps libopenblas beside a reference libblas,
    so what is mapped is not the answer); kind is openblas, mkl, blis, reference or unknown."""
    a = torch.randn(64, 64)
    torch.nn.functional.linear(a, a).sum().item()
    with open("/proc/self/maps") as f:
        maps = [line.split() for line in f]
    torch_cpu = next((m[5] for m in maps if len(m) > 5 and "libtorch_cpu.so" in m[5]), None)
    info = torch.__config__.show()
    provider = None
    if torch_cpu:
        try:  # dlopen of a loaded library returns it; dlsym then searches its own dependencies in order
            address = ctypes.cast(ctypes.CDLL(torch_cpu).sgemm_, ctypes.c_void_p).value
            for m in maps:
                lo, hi = (int(v, 16) for v in m[0].split("-"))
                if len(m) > 5 and lo <= address < hi:
                    provider = os.path.realpath(m[5])
        except AttributeError:
            pass  # no dynamic sgemm_: a BLAS linked in statically (pip's wheels: MKL)
    if provider is None:
        return ("mkl", "linked into libtorch (BLAS_INFO=mkl)") if "BLAS_INFO=mkl" in info else ("unknown", "no sgemm_ found")
    for kind, pattern in (("mkl", "mkl"), ("openblas", "openblas"), ("blis", "blis"), ("reference", "/blas/libblas")):
        if pattern in provider:
            return kind, provider
    return "unknown", provider


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=40)
    p.add_argument("--optimizer", choices=["rmsprop", "adam"], help="default: rmsprop for mlp, adam for cnn")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-format", choices=["channels_last", "contiguous"], default="channels_last",
                   help="the CNN's activation and weight layout")
    p.add_argument("--config-only", action="store_true", help="print the configuration line (BLAS, threads) and exit")
    a = p.parse_args()
    optimizer = a.optimizer or ("rmsprop" if a.model == "mlp" else "adam")
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)

    kind, path = blas_in_use()
    print(f"torch config: PyTorch {torch.__version__}, BLAS {kind} ({path}), "
          f"{torch.get_num_threads()} threads (torch.set_num_threads; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
          f"oneDNN (mkldnn) {'on' if torch.backends.mkldnn.enabled else 'off'}, "
          f"ATen parallel backend {torch.__config__.parallel_info().splitlines()[-1].split(': ')[-1]}")
    if a.config_only:
        return
    layout = a.memory_format if a.model == "cnn" else "row-major"
    print(f"torch {a.model}: batch {a.batch}, {optimizer}, layout {layout}, data as float tensors in memory")
    sys.stdout.flush()

    x, y = load(a.data, "train")
    tx, ty = load(a.data, "t10k")
    if a.model == "mlp":
        model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 64), nn.ReLU(),
                              nn.Dropout(0.2), nn.Linear(64, 10))
        fmt = None
    else:
        # The images as N x 1 x 28 x 28 (a view: no copy), converted to the layout per batch.
        x, tx = x.view(-1, 1, 28, 28), tx.view(-1, 1, 28, 28)
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128),
                              nn.ReLU(), nn.Linear(128, 10))
        fmt = torch.channels_last if a.memory_format == "channels_last" else torch.contiguous_format
        model = model.to(memory_format=fmt)
    if optimizer == "rmsprop":
        # Keras RMSprop(0.0015): rho 0.9, epsilon 1e-7.
        opt = torch.optim.RMSprop(model.parameters(), lr=0.0015, alpha=0.9, eps=1e-7)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()  # softmax + sparse categorical crossentropy

    def batch_of(t, idx):
        b = t[idx]
        return b.contiguous(memory_format=fmt) if fmt is not None else b

    for epoch in range(a.epochs):
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), a.batch):
            idx = perm[i:i + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(batch_of(x, idx)), y[idx])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        model.eval()
        with torch.inference_mode():
            correct = sum((model(batch_of(tx, slice(i, i + 1000))).argmax(1) == ty[i:i + 1000]).sum().item()
                          for i in range(0, len(tx), 1000))
        print(f"torch {a.model} epoch {epoch + 1}: {seconds:.3f} s, test accuracy {correct / len(tx):.4f}")
        sys.stdout.flush()
    print(f"torch {a.model} peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
