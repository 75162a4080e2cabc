"""Train the MRZ line recogniser (all-convolutional CRNN, CTC) on synthetic OCR-B lines; export int8 tflite.

Runs in its own training environment, never on the gate (``./tools/dev train-mrz`` makes it: PyTorch CPU and
litert-torch, which converts without TensorFlow). Seeded: the same arguments give the same model.

The training lines are rendered once (``tools/vision/synth.py: document_lines``, in parallel processes, seeded
per chunk so the set does not depend on the number of processes) and cached as uint8 arrays in
``.train/lines-SEED-N.npz`` (not committed); training then runs several epochs over them.

    python -m tools.vision.train_mrz            # the base recipe: the first line model until 2026-12-04 22:40
                                                # (the third is it with other seeds); ~53 min, .train/mrz_line.tflite

The shipped models' cards (models/mrz_line*.md) give the commands that made them; ``--replicas 2`` trains in two
one-thread processes sharing each batch (``_run``: about 1.2x the lines/s of one two-thread process on 2 cores);
``--init`` goes on from a checkpoint (a further stage).

Prints progress (loss, greedy exact-line accuracy on a fixed validation set) and writes the checkpoint next to
the output (``.pt``, not committed) so ``--export-only`` can re-convert without training.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.connection
import random
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from agent.vision.lines import ALPHABET, CLASSES, LINE_H, LINE_W, line_input
from tools.vision.synth import document_lines

SEED = 20261202  # weights and batch order
DATA_SEED = 20261210  # the training lines of the base recipe (the validation lines: DATA_SEED + 1)


ARCHITECTURES = {  # channels of the four conv blocks, the height-collapsing conv and the context convs
    "base": (16, 32, 64, 96, 128),  # ~200 k parameters: the second and third line models
    "wide": (24, 48, 96, 128, 192),  # ~430 k parameters, 2.3x the multiply-adds: the first line model since 2026-12-04
    "fine": (16, 32, 64, 96, 128),  # base's channels with a column every 2 pixels (FINE): 5 a character of 44
}
FINE = {"fine"}  # architectures whose second block keeps the width: LINE_W // 2 columns, not LINE_W // 4


class LineNet(nn.Module):
    """1 x 32 x 448 grey line -> STEPS x CLASSES log-probabilities (``ARCHITECTURES``: its channels; FINE: 2 x STEPS)."""

    def __init__(self, arch: str = "base") -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = ARCHITECTURES[arch]
        fine = arch in FINE

        def block(cin: int, cout: int, pool: tuple[int, int] | None) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(pool))
            return layers

        self.features = nn.Sequential(
            *block(1, c1, (2, 2)),  # 16 x 224
            *block(c1, c2, (2, 1) if fine else (2, 2)),  # 8 x 112 (fine: 8 x 224)
            *block(c2, c3, (2, 1)),  # 4 x 112
            *block(c3, c4, (2, 1)),  # 2 x 112
            nn.Conv2d(c4, c5, (2, 3), padding=(0, 1), bias=False),  # 1 x 112
            nn.BatchNorm2d(c5),
            nn.ReLU(),
        )
        self.context = nn.Sequential(
            nn.Conv2d(c5, c5, (1, 3), padding=(0, 1), bias=False), nn.BatchNorm2d(c5), nn.ReLU()
        )
        self.head = nn.Conv2d(c5, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        f = f + self.context(f)
        logits = self.head(f)[:, :, 0, :].float()  # N x C x T; float: trained under bfloat16 autocast
        return torch.log_softmax(logits.permute(0, 2, 1), dim=-1)  # N x T x C


CACHE = Path(".train")
CHUNK = 500  # lines rendered from one seed: the set is the same whatever the number of processes


@dataclass(frozen=True)
class Rendering:
    """How the training lines are rendered (``document_lines``): the share of documents whose crops run on past
    the lines' ends, set in a printer's style, whose security print is as dark as the ink, with a glare
    cutting across a character, with dark specks over the lines, and sharpened."""

    run_on: float = 0.0
    variety: float = 0.0
    dark_print: float = 0.0
    cut_across: float = 0.0
    specks: float = 0.0
    sharpened: float = 0.0

    def folder(self, seed: int) -> Path:
        """The cache folder of the lines of ``seed`` rendered so (a share 0 adds nothing to its name)."""
        shares = (("runon", self.run_on), ("variety", self.variety), ("dark", self.dark_print),
                  ("cut", self.cut_across), ("speck", self.specks),
                  ("sharp", self.sharpened))  # fmt: skip
        return CACHE / "-".join([f"lines-{seed}"] + [f"{tag}{round(share * 100)}" for tag, share in shares if share])


BASE_RENDERING = Rendering(run_on=0.25)  # the base recipe's (the second and third models'): the options' defaults


def _render_chunk(job: tuple[int, int, Path, Rendering]) -> None:
    seed, count, path, rendering = job
    rng = random.Random(seed)
    crops: list[np.ndarray] = []
    texts: list[str] = []
    while len(crops) < count:
        for crop, text in document_lines(rng, **asdict(rendering)):
            crops.append(crop)
            texts.append(text)
    np.savez(path.with_suffix(".tmp.npz"), crops=np.stack(crops[:count]), texts=np.array(texts[:count]))
    path.with_suffix(".tmp.npz").rename(path)


def line_set(seed: int, n: int, procs: int, rendering: Rendering = Rendering()) -> tuple[np.ndarray, list[str]]:
    """``n`` rendered training lines (uint8 N x LINE_H x LINE_W) and their texts, cached under .train/ in
    chunks (an interrupted rendering goes on where it stopped)."""
    folder = rendering.folder(seed)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(seed * 100_000 + k, min(CHUNK, n - k * CHUNK), folder / f"{k:05d}-{min(CHUNK, n - k * CHUNK)}.npz",
             rendering) for k in range((n + CHUNK - 1) // CHUNK)]  # fmt: skip
    todo = [job for job in jobs if not job[2].exists()]
    if todo:
        t0 = time.monotonic()
        with multiprocessing.Pool(procs) as pool:
            for done, _ in enumerate(pool.imap_unordered(_render_chunk, todo), 1):
                if done % 10 == 0 or done == len(todo):
                    print(f"rendered {done}/{len(todo)} chunks of {CHUNK} lines, {time.monotonic() - t0:.0f}s", flush=True)
    parts = [np.load(job[2]) for job in jobs]
    return np.concatenate([p["crops"] for p in parts]), [str(t) for p in parts for t in p["texts"]]


def model_input(crops: np.ndarray) -> torch.Tensor:
    """uint8 N x LINE_H x LINE_W crops as the model's N x 1 x LINE_H x LINE_W input (``line_input``)."""
    return torch.from_numpy(line_input(crops))[:, None]


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


def evaluate(model: nn.Module, x: torch.Tensor, texts: list[str]) -> float:
    model.eval()
    with torch.no_grad():
        logp = torch.cat([model(x[i : i + 256]) for i in range(0, len(x), 256)]).numpy()
    model.train()
    return sum(greedy(lp) == t for lp, t in zip(logp, texts, strict=True)) / len(texts)


def train(steps: int, batch: int, ckpt: Path, lines: int, procs: int, lr: float = 3e-3,
          data_seed: int = DATA_SEED, init: Path | None = None, rendering: Rendering = BASE_RENDERING,
          bf16: bool = True, seed: int = SEED, arch: str = "base", replicas: int = 1,
          val_every: int = 2500) -> nn.Module:  # fmt: skip
    """Train (``replicas`` processes, each a 1/replicas share of every batch, ``_run``) and return the model."""
    crops, texts = line_set(data_seed, lines, procs, rendering)
    val_crops, val_texts = line_set(data_seed + 1, 1000, procs, rendering)
    job = (steps, batch, ckpt, lr, init, bf16, seed, arch, replicas, val_every, crops, texts, val_crops, val_texts)
    if replicas == 1:
        return _run(0, *job)
    # forked, not spawned: the replicas share the parent's lines (no torch has run a thread pool in it yet)
    store = ckpt.with_suffix(".rendezvous")
    store.unlink(missing_ok=True)
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_run, args=(rank, *job)) for rank in range(replicas)]
    for w in workers:
        w.start()
    running = list(workers)
    while running:  # a replica that fails leaves the others waiting in their next all-reduce: stop them
        for ended in multiprocessing.connection.wait([w.sentinel for w in running]):
            done = next(w for w in running if w.sentinel == ended)
            done.join()
            running.remove(done)
            if done.exitcode != 0:
                for w in running:
                    w.terminate()
    store.unlink(missing_ok=True)
    if any(w.exitcode != 0 for w in workers):
        raise SystemExit(f"a training replica failed (exit codes {[w.exitcode for w in workers]})")
    model = LineNet(arch)
    model.load_state_dict(torch.load(ckpt))
    return model


def _run(rank: int, steps: int, batch: int, ckpt: Path, lr: float, init: Path | None, bf16: bool, seed: int,
         arch: str, replicas: int, val_every: int, crops: np.ndarray, texts: list[str], val_crops: np.ndarray,
         val_texts: list[str]) -> nn.Module:  # fmt: skip
    """One replica: every replica draws the same seeded batches and takes its share of each (``rank``); their
    gradients, losses and batch-normalisation statistics are averaged (gloo, ``_average``) before each step, so
    they step alike and end with the same weights: batches of ``batch`` whose batch normalisation sees
    ``batch // replicas`` lines. Two one-thread replicas run a batch of 32 ~1.2x faster than one two-thread
    process on 2 cores (docs/vision.md "Training the line model")."""
    if replicas > 1:
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"file://{ckpt.with_suffix('.rendezvous').resolve()}",
                                rank=rank, world_size=replicas)  # fmt: skip
    val_x = model_input(val_crops[rank::replicas])
    val_texts = val_texts[rank::replicas]
    torch.manual_seed(seed)
    model = LineNet(arch)
    if init is not None:  # a further stage: go on from a checkpoint
        model.load_state_dict(torch.load(init))
    if bf16:  # bfloat16 autocast on channels-last tensors: ~2.5-3x the lines/s of float32 (AMX, AVX-512 BF16)
        model = model.to(memory_format=torch.channels_last)
        if rank == 0 and not torch.ops.mkldnn._is_mkldnn_bf16_supported():  # emulated: slower than float32
            print(f"warning: this CPU has no native bfloat16 (torch sees {torch.backends.cpu.get_cpu_capability()}"
                  "; AVX-512 BF16 or AMX wanted): bfloat16 autocast runs several times slower than float32 here "
                  "(an AVX2 machine: under 13 against 79-84 lines/s, docs/vision.md); --fp32 is faster here, but "
                  "another recipe (not the shipped model's bytes)", file=sys.stderr, flush=True)  # fmt: skip
    if rank == 0:
        print(f"parameters: {sum(p.numel() for p in model.parameters())}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    order = np.random.default_rng(seed)
    share = batch // replicas
    t0 = time.monotonic()
    perm = np.empty(0, np.int64)
    for step in range(1, steps + 1):
        if len(perm) < batch:  # a new epoch: a fresh seeded order
            perm = np.concatenate([perm, order.permutation(len(crops))])
        pick, perm = perm[:batch][rank * share : (rank + 1) * share], perm[batch:]
        x = model_input(crops[pick])
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        targets, lengths = encode([texts[i] for i in pick])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logp = model(x).permute(1, 0, 2)  # T x N x C
        loss = ctc(logp, targets, torch.full((len(pick),), logp.shape[0], dtype=torch.long), lengths)
        opt.zero_grad()
        loss.backward()
        if replicas > 1:
            loss = _average(model, loss, replicas)
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps:
            acc = evaluate(model, val_x, val_texts) if step % val_every == 0 or step == steps else float("nan")
            if replicas > 1 and acc == acc:
                right = torch.tensor([acc * len(val_texts), len(val_texts)], dtype=torch.float64)
                dist.all_reduce(right)
                acc = float(right[0] / right[1])
            seen = step * batch
            if rank == 0:
                print(f"step {step} epoch {seen / len(crops):.2f} loss {loss.item():.4f} val_exact {acc:.3f} "
                      f"{seen / (time.monotonic() - t0):.0f} lines/s {time.monotonic() - t0:.0f}s", flush=True)
                torch.save(model.state_dict(), ckpt)
    if replicas > 1:
        dist.destroy_process_group()
    return model


def _average(model: nn.Module, loss: torch.Tensor, replicas: int) -> torch.Tensor:
    """Average the replicas' gradients, batch-normalisation running statistics and losses in one all-reduce."""
    grads = [p.grad for p in model.parameters()]
    stats = [b for name, b in model.named_buffers() if not name.endswith("num_batches_tracked")]
    flat = torch.cat([t.reshape(-1) for t in grads + stats] + [loss.detach().reshape(1)])
    dist.all_reduce(flat)
    flat /= replicas
    at = 0
    for t in grads + stats:
        t.copy_(flat[at : at + t.numel()].view_as(t))
        at += t.numel()
    return flat[-1]


CALIBRATION = CHUNK  # training lines the int8 export measures activations on: the set's first chunk


def _quantiser() -> Any:
    """litert-torch's PT2E quantiser, int8 per channel, but the graph's last convolution (the head) left float:
    the quantiser takes no module left out (``set_module_name(name, None)`` is refused), so its annotation is
    removed."""
    from litert_torch.quantize import pt2e_quantizer  # type: ignore[import-not-found]

    class FloatHead(pt2e_quantizer.PT2EQuantizer):  # type: ignore[misc]
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = super().annotate(model)
            convs = [n for n in model.graph.nodes if n.target == torch.ops.aten.conv2d.default]
            convs[-1].meta.pop("quantization_annotation", None)
            return model

    return FloatHead().set_global(pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))


def export(model: nn.Module, out: Path, calibration: np.ndarray) -> None:
    """Convert to tflite in int8, weights (per channel) and activations (per tensor, their ranges measured on
    the ``calibration`` lines), via litert-torch's PT2E quantiser: 1.37x faster here than int8 weights alone
    (dynamic-range quantisation, the models until 2026-12-06), the same validation lines read. The input is
    int8 (``agent/vision/runtime.py`` quantises it). The head (the last convolution, under 1 % of the work) stays
    float: its logits in int8 would move in steps of about 0.3, a character's probability near 0.5 by 0.08 a
    step, where the reader weighs probabilities to the hundredth (docs/vision.md, "Figures", 2026-12-06 08:31)."""
    import litert_torch  # type: ignore[import-not-found]
    from litert_torch.quantize.quant_config import QuantConfig  # type: ignore[import-not-found]
    from torchao.quantization.pt2e import quantize_pt2e  # type: ignore[import-not-found]

    model = model.to(memory_format=torch.contiguous_format).eval()
    sample = (torch.zeros(1, 1, LINE_H, LINE_W),)
    quantizer = _quantiser()
    prepared = quantize_pt2e.prepare_pt2e(torch.export.export(model, sample).module(), quantizer)
    with torch.no_grad():
        for line in model_input(calibration):  # one at a time: the exported graph takes a batch of one
            prepared(line[None])
    quantised = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    litert_torch.convert(quantised, sample, quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes)", flush=True)


def from_tflite(path: Path, arch: str) -> nn.Module:
    """The LineNet of a line model shipped with int8 weights and float activations (the models until
    2026-12-06, whose checkpoints were not kept): each convolution's weights dequantised, its batch
    normalisation (folded into the convolution's bias by the converter) made the identity plus that bias.
    What the dynamic-range model computes, but for its activations' rounding."""
    from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]

    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    tensors = it.get_tensor_details()
    model = LineNet(arch).eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    ops = [op for op in it._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    if len(ops) != len(convs):
        raise SystemExit(f"{path}: {len(ops)} convolutions, not the {len(convs)} of the {arch} architecture")
    with torch.no_grad():
        for k, (op, conv) in enumerate(zip(ops, convs, strict=True)):
            weight_at, bias_at = op["inputs"][1], op["inputs"][2]
            q = tensors[weight_at]["quantization_parameters"]
            shape = [1] * len(tensors[weight_at]["shape"])
            shape[q["quantized_dimension"]] = -1
            w = it.get_tensor(weight_at).astype(np.float32) * q["scales"].reshape(shape)
            w = w.transpose(3, 0, 1, 2) if op["op_name"] == "DEPTHWISE_CONV_2D" else w.transpose(0, 3, 1, 2)
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise SystemExit(f"{path}: convolution {k} is {w.shape}, not the {arch} architecture's {conv.weight.shape}")
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            bias = torch.from_numpy(it.get_tensor(bias_at).copy())
            if conv.bias is not None:  # the head
                conv.bias.copy_(bias)
            else:
                norm = norms[k]
                norm.weight.fill_(1.0)
                norm.bias.copy_(bias)
                norm.running_mean.zero_()
                norm.running_var.fill_(1.0 - norm.eps)  # sqrt(var + eps) is 1 exactly
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=18_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lines", type=int, default=240_000, help="rendered training lines (cached under .train/)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (of the one process: --replicas 1)")
    ap.add_argument("--replicas", type=int, default=1,
                    help="processes sharing each batch, one thread each (their gradients averaged)")
    ap.add_argument("--val-every", type=int, default=2500, help="steps between validations (they change nothing)")
    ap.add_argument("--procs", type=int, default=2, help="processes rendering the lines")
    ap.add_argument("--out", type=Path, default=Path(".train/mrz_line.tflite"), help="never a shipped model by default")
    ap.add_argument("--export-only", action="store_true", help="convert the saved checkpoint")
    ap.add_argument("--from-tflite", type=Path, metavar="MODEL",
                    help="convert a line model with int8 weights only (the models until 2026-12-06) to int8 in all")
    ap.add_argument("--init", type=Path, help="start from this checkpoint (a further stage)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument("--data-seed", type=int, default=DATA_SEED, help="seed of the synthetic lines")
    ap.add_argument("--fp32", action="store_true", help="train in float32 (default: bfloat16 autocast)")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the weights and the batch order")
    ap.add_argument("--run-on", type=float, default=BASE_RENDERING.run_on,
                    help="share of documents whose line crops run on past the lines' ends (page, edge, desk)")
    ap.add_argument("--arch", choices=sorted(ARCHITECTURES), default="base", help="the model's channels")
    ap.add_argument("--variety", type=float, default=BASE_RENDERING.variety,
                    help="share of documents set in a printer's style: other cuts and faces, widths, weights")
    ap.add_argument("--dark-print", type=float, default=BASE_RENDERING.dark_print,
                    help="share of documents whose security print keeps its full contrast, as dark as the ink")
    ap.add_argument("--cut-across", type=float, default=BASE_RENDERING.cut_across,
                    help="share of documents with a glare cutting across a character of one line")
    ap.add_argument("--specks", type=float, default=BASE_RENDERING.specks,
                    help="share of documents with dark specks over their lines (dust, pen dots)")
    ap.add_argument("--sharpened", type=float, default=BASE_RENDERING.sharpened,
                    help="share of documents whose captured lines are sharpened (unsharp mask halos)")
    args = ap.parse_args(argv)
    if args.replicas < 1 or args.batch % args.replicas:
        ap.error(f"--replicas {args.replicas}: the batch ({args.batch}) must split evenly among 1 or more replicas")
    torch.set_num_threads(args.threads)
    ckpt = args.out.with_suffix(".pt")
    rendering = Rendering(**{f.name: getattr(args, f.name) for f in fields(Rendering)})  # its options, by name
    if args.from_tflite:
        model = from_tflite(args.from_tflite, args.arch)
    elif args.export_only:
        model = LineNet(args.arch)
        model.load_state_dict(torch.load(ckpt))
    else:
        model = train(args.steps, args.batch, ckpt, args.lines, args.procs, args.lr, args.data_seed, args.init,
                      rendering, not args.fp32, args.seed, args.arch, args.replicas, args.val_every)
    export(model, args.out, line_set(args.data_seed, CALIBRATION, args.procs, rendering)[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
