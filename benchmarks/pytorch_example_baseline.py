"""The baseline: the PyTorch example VAE's training loop, as most people copy it.

Same model (784-400-20-400-784, ReLU), loss (BCE on sigmoid outputs, summed, plus the
analytic KL), optimizer (Adam 1e-3) and batch size (128) as pytorch/examples' vae/main.py,
with its data path: a per-item ``Dataset`` (uint8 image → float tensor / 255, as
``transforms.ToTensor`` does), a shuffling ``DataLoader`` and ``loss.item()`` every step.
torchvision is replaced by an equivalent per-item dataset over the same IDX arrays.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset


class IDXImages(Dataset):
    def __init__(self, images_uint8: np.ndarray):
        self.images = images_uint8

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        img = torch.from_numpy(self.images[i].astype(np.float32) / 255.0).unsqueeze(0)
        return img, 0


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


class BaselineRun:
    """The example's loop, one epoch at a time (so a benchmark can interleave it with ours)."""

    def __init__(self, train_u8: np.ndarray, test_u8: np.ndarray, seed: int = 1,
                 device: str = "cpu"):
        torch.manual_seed(seed)
        self.dev = torch.device(device)
        self.train_loader = DataLoader(IDXImages(train_u8), batch_size=128, shuffle=True)
        self.test_loader = DataLoader(IDXImages(test_u8), batch_size=128, shuffle=False)
        self.model = VAE().to(self.dev)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)

    def epoch_steps(self, chunk: int | None = None):
        """One training epoch and the test loss, as the example runs them, as a generator
        that pauses after every ``chunk`` steps (to run in alternating chunks with another
        loop) and returns the metrics; ``train_seconds`` counts only the time inside it."""
        model, optimizer, dev = self.model, self.optimizer, self.dev
        model.train()
        seconds, t0 = 0.0, time.perf_counter()
        train_loss = 0.0
        for i, (data, _) in enumerate(self.train_loader, 1):
            data = data.to(dev)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            if chunk and i % chunk == 0 and i < len(self.train_loader):
                seconds += self._lap(t0)
                yield
                t0 = time.perf_counter()
        seconds += self._lap(t0)
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for data, _ in self.test_loader:
                data = data.to(dev)
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
        return {"train_seconds": seconds, "train_loss": train_loss / len(self.train_loader.dataset),
                "test_loss": test_loss / len(self.test_loader.dataset)}

    def _lap(self, t0: float) -> float:
        if self.dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0


def main() -> None:
    """The example's whole program, as a process: import, load MNIST, train ``--epochs``
    epochs with a test pass after each, print the losses (pytorch/examples' vae/main.py
    without torchvision's image saving, which only favours the baseline)."""
    import argparse

    from elbolab.vae.data import load_dataset

    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    to_u8 = lambda d: (d.images.reshape(-1, 28, 28) * 255).round().to(torch.uint8).numpy()  # noqa: E731
    run = BaselineRun(to_u8(load_dataset("mnist", "train", fallback=False)),
                      to_u8(load_dataset("mnist", "test", fallback=False)), device=args.device)
    seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        gen = run.epoch_steps()
        try:
            while True:
                next(gen)
        except StopIteration as done:
            row = done.value
        seconds += row["train_seconds"]
        print(f"epoch {epoch}: train {row['train_loss']:.2f}, test {row['test_loss']:.2f}")
    print(f"training time {seconds:.2f} s")


if __name__ == "__main__":
    main()
