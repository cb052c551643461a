"""A small CNN over the paper's log-mel, trained on the synthetic dataset's category labels.

It plays the role PANNs plays in the paper's FD/IS/KL: its penultimate layer is the embedding space
for the Frechet distance, its softmax the class posterior for accuracy and KL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

from audioldm_daw.engine.mel import log_mel

CLIP_FRAMES = 512  # 5.12 s at hop 160: what the dataset renders and evaluation generates


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))


class MelCNN(nn.Module):
    """(B, frames, 64) log-mel -> (embedding (B, 64), logits (B, classes))."""

    def __init__(self, n_classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(1, width), _block(width, width), _block(width, 2 * width), _block(2 * width, 64)
        )
        self.head = nn.Linear(64, n_classes)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (mel.unsqueeze(1) + 5.0) / 5.0  # log-mel of -11.5 (silence)..~3 -> roughly unit scale
        emb = self.features(x).mean(dim=(2, 3))
        return emb, self.head(emb)


def fit_frames(mel: torch.Tensor, frames: int = CLIP_FRAMES) -> torch.Tensor:
    """Crop or pad (with silence) to the classifier's fixed length."""
    from audioldm_daw.engine.mel import SILENCE

    if mel.shape[0] >= frames:
        return mel[:frames]
    return torch.cat([mel, torch.full((frames - mel.shape[0], mel.shape[1]), SILENCE)])


def mels_of(waves: list[np.ndarray]) -> torch.Tensor:
    """(B, 512, 64) log-mels of 16 kHz mono waveforms."""
    return torch.stack([fit_frames(log_mel(torch.as_tensor(w, dtype=torch.float32))) for w in waves])


@dataclass
class Classifier:
    """A trained MelCNN and its label names."""

    net: MelCNN
    labels: list[str]

    def embed(self, waves: list[np.ndarray], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings (N, 64), class probabilities (N, classes)) of 16 kHz waveforms."""
        return self.embed_mels([log_mel(torch.as_tensor(w, dtype=torch.float32)) for w in waves], batch)

    @torch.no_grad()
    def embed_mels(self, mels: list[torch.Tensor], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """The same for log-mels (T, 64), e.g. a VAE's decoded mel before any vocoder."""
        self.net.eval()
        embs, probs = [], []
        for i in range(0, len(mels), batch):
            e, logits = self.net(torch.stack([fit_frames(m.float().cpu()) for m in mels[i : i + batch]]))
            embs.append(e.numpy())
            probs.append(torch.softmax(logits, -1).numpy())
        return np.concatenate(embs), np.concatenate(probs)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), path)
        path.with_suffix(".labels.json").write_text(json.dumps(self.labels))

    @classmethod
    def load(cls, path: Path) -> Classifier:
        labels = json.loads(Path(path).with_suffix(".labels.json").read_text())
        net = MelCNN(len(labels))
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return cls(net.eval(), labels)


def read_split(dataset: Path, split: str) -> tuple[list[np.ndarray], list[str]]:
    """Waveforms and categories of one split of a dataset written by :mod:`audioldm_daw.workbench.dataset`."""
    waves, cats = [], []
    for line in (dataset / split / "metadata.jsonl").read_text().splitlines():
        row = json.loads(line)
        waves.append(sf.read(dataset / split / row["file"], dtype="float32")[0])
        cats.append(row["category"])
    return waves, cats


def train_classifier(dataset: Path, epochs: int = 10, seed: int = 0, log: bool = True) -> tuple[Classifier, float]:
    """Train on the train split; returns the classifier and its accuracy on the held-out split."""
    torch.manual_seed(seed)
    labels = json.loads((dataset / "labels.json").read_text())
    labels = labels if isinstance(labels, list) else list(labels)
    waves, cats = read_split(dataset, "train")
    x = mels_of(waves)
    y = torch.tensor([labels.index(c) for c in cats])
    net = MelCNN(len(labels))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), 32):
            idx = order[i : i + 32]
            shift = int(torch.randint(0, 64, (1,), generator=gen))  # time shift: robustness to onsets
            _, logits = net(torch.roll(x[idx], shift, dims=1))
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if log:
            print(f"classifier epoch {epoch + 1}/{epochs}: loss {total / len(x):.3f}", flush=True)
    clf = Classifier(net.eval(), labels)
    test_w, test_c = read_split(dataset, "test")
    _, probs = clf.embed(test_w)
    acc = float(np.mean([labels[i] == c for i, c in zip(probs.argmax(1), test_c, strict=True)]))
    return clf, acc
