"""Train the MRZ line recogniser (all-convolutional CRNN, CTC) on synthetic OCR-B lines; export int8 tflite.

Runs in its own training environment, never on the gate (``./tools/dev train-mrz`` makes it: PyTorch CPU and
litert-torch, which converts without TensorFlow). Seeded: the same arguments give the same model.

    python -m tools.vision.train_mrz --steps 1500 --batch 32 --out .train/stage1.tflite
    python -m tools.vision.train_mrz --steps 700 --batch 32 --init .train/stage1.pt --lr 1e-3 \
        --data-seed 20261203 --out models/mrz_line.tflite    # the shipped model: both stages

Prints progress (loss, greedy exact-line accuracy on a fixed validation set) and writes the checkpoint next to
the output (``.pt``, not committed) so ``--export-only`` can re-convert without training.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agent.vision.lines import ALPHABET, CLASSES, LINE_H, LINE_W, line_input
from tools.vision.synth import line_sample

SEED = 20261202


class LineNet(nn.Module):
    """1 x 32 x 448 grey line -> STEPS x CLASSES log-probabilities (~200 k parameters)."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int, pool: tuple[int, int] | None) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(pool))
            return layers

        self.features = nn.Sequential(
            *block(1, 16, (2, 2)),  # 16 x 224
            *block(16, 32, (2, 2)),  # 8 x 112
            *block(32, 64, (2, 1)),  # 4 x 112
            *block(64, 96, (2, 1)),  # 2 x 112
            nn.Conv2d(96, 128, (2, 3), padding=(0, 1), bias=False),  # 1 x 112
            nn.BatchNorm2d(128),
            nn.ReLU(),
        )
        self.context = nn.Sequential(
            nn.Conv2d(128, 128, (1, 3), padding=(0, 1), bias=False), nn.BatchNorm2d(128), nn.ReLU()
        )
        self.head = nn.Conv2d(128, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        f = f + self.context(f)
        logits = self.head(f)[:, :, 0, :]  # N x C x T
        return torch.log_softmax(logits.permute(0, 2, 1), dim=-1)  # N x T x C


class Lines(torch.utils.data.IterableDataset):
    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __iter__(self):  # type: ignore[no-untyped-def]
        info = torch.utils.data.get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info else 0))
        while True:
            crop, text = line_sample(rng)
            yield torch.from_numpy(line_input(crop))[None], text


def encode(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    targets = torch.tensor([ALPHABET.index(ch) + 1 for t in texts for ch in t], dtype=torch.long)
    return targets, torch.tensor([len(t) for t in texts], dtype=torch.long)


def greedy(logp: np.ndarray) -> str:
    best = logp.argmax(-1)
    out, prev = [], 0
    for k in best:
        if k != prev and k != 0:
            out.append(ALPHABET[k - 1])
        prev = k
    return "".join(out)


def validation_set(n: int) -> tuple[torch.Tensor, list[str]]:
    rng = random.Random(SEED + 1)
    samples = [line_sample(rng) for _ in range(n)]
    return torch.stack([torch.from_numpy(line_input(c))[None] for c, _ in samples]), [t for _, t in samples]


def evaluate(model: nn.Module, x: torch.Tensor, texts: list[str]) -> float:
    model.eval()
    with torch.no_grad():
        logp = model(x).numpy()
    model.train()
    return sum(greedy(lp) == t for lp, t in zip(logp, texts, strict=True)) / len(texts)


def train(steps: int, batch: int, ckpt: Path, workers: int, init: Path | None = None, lr: float = 3e-3,
          data_seed: int = SEED) -> nn.Module:
    torch.manual_seed(SEED)
    model = LineNet()
    if init is not None:  # a second stage: go on from a checkpoint with fresh data and a lower rate
        model.load_state_dict(torch.load(init))
    print(f"parameters: {sum(p.numel() for p in model.parameters())}", flush=True)
    loader = torch.utils.data.DataLoader(
        Lines(data_seed), batch_size=batch, num_workers=workers, collate_fn=lambda b: b, persistent_workers=workers > 0
    )
    val_x, val_t = validation_set(300)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    t0, seen = time.monotonic(), 0
    for step, items in enumerate(loader, 1):
        x = torch.stack([i[0] for i in items])
        targets, lengths = encode([i[1] for i in items])
        logp = model(x).permute(1, 0, 2)  # T x N x C
        loss = ctc(logp, targets, torch.full((len(items),), logp.shape[0], dtype=torch.long), lengths)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        seen += len(items)
        if step % 200 == 0 or step == steps:
            acc = evaluate(model, val_x, val_t)
            print(f"step {step} loss {loss.item():.4f} val_exact {acc:.3f} {seen / (time.monotonic() - t0):.0f} lines/s "
                  f"{time.monotonic() - t0:.0f}s", flush=True)
            torch.save(model.state_dict(), ckpt)
        if step >= steps:
            break
    return model


def export(model: nn.Module, out: Path) -> None:
    """Convert to tflite with int8 weights (dynamic-range quantisation) via litert-torch."""
    import litert_torch  # type: ignore[import-not-found]
    from litert_torch.generative.quantize import quant_recipes  # type: ignore[import-not-found]

    model.eval()
    sample = (torch.zeros(1, 1, LINE_H, LINE_W),)
    quant = quant_recipes.full_dynamic_recipe()
    edge = litert_torch.convert(model, sample, quant_config=quant)
    edge.export(str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a data worker runs beside them)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("models/mrz_line.tflite"))
    ap.add_argument("--export-only", action="store_true", help="convert the saved checkpoint")
    ap.add_argument("--init", type=Path, help="start from this checkpoint (a second stage)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument("--data-seed", type=int, default=SEED, help="seed of the synthetic lines")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpt = args.out.with_suffix(".pt")
    if args.export_only:
        model = LineNet()
        model.load_state_dict(torch.load(ckpt))
    else:
        model = train(args.steps, args.batch, ckpt, args.workers, args.init, args.lr, args.data_seed)
    export(model, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
