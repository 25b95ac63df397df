"""Train one network fast: `train_network(config, data, epochs=..., seed=..., device=...)`.

The whole dataset is one channels-last tensor on the device; a batch is an index slice of a random
permutation; augmentation (random crop, flip where it keeps the label) is batched tensor ops;
no DataLoader. bf16 autocast on CUDA. Loss and accuracy are summed on the device and read once
per epoch, so the hot loop never waits for the GPU. A non-finite loss ends the run as
`diverged` at the end of that epoch, with the curve up to there.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from pipeline.cnn import build_cnn, count_parameters, flops_per_sample
from pipeline.datasets import Dataset

EVAL_BATCH = 1024  # images per forward pass when evaluating
LATENCY_BATCH = 128  # images per timed forward pass for inference latency


@dataclass
class RunResult:
    status: str  # ok | diverged | failed
    error: str | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    train_accuracy: float | None = None  # running mean over the last epoch
    train_loss: float | None = None
    epochs: int = 0  # epochs completed
    train_seconds: float = 0.0
    parameter_count: int | None = None
    flops_per_sample: int | None = None
    inference_ms_per_image: float | None = None
    device: str = "cpu"
    curve: list[dict] = field(default_factory=list)  # one dict per epoch


def make_optimizer(config: dict, params) -> torch.optim.Optimizer:
    lr = float(config["learning_rate"])
    wd = float(config.get("weight_decay", 0.0))
    name = config["optimizer"]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name in ("rmsprop", "rms"):
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd, momentum=float(config.get("momentum", 0.0)))
    if name in ("sgd_momentum", "sgd"):
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=float(config.get("momentum", 0.9)))
    raise ValueError(f"unknown optimizer '{name}'")


def augment(x: torch.Tensor, generator: torch.Generator, *, flip: bool) -> torch.Tensor:
    """Random crop after zero padding of size/8 pixels, then a random horizontal flip."""
    n, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (n, h, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (n, 1, w)
    if flip:
        mirror = torch.rand(n, device=x.device, generator=generator) < 0.5
        cols = torch.where(mirror[:, None, None], cols.flip(-1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (n, c, h, w)


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, autocast) -> tuple[float, float]:
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for i in range(0, len(x), EVAL_BATCH):
        with autocast():
            logits = model(x[i : i + EVAL_BATCH])
        loss_sum += F.cross_entropy(logits.float(), y[i : i + EVAL_BATCH], reduction="sum")
        correct += (logits.argmax(1) == y[i : i + EVAL_BATCH]).sum()
    model.train()
    return loss_sum.item() / len(x), correct.item() / len(x)


def inference_latency_ms(model, x: torch.Tensor, autocast) -> float:
    """Median of 3 timed forward passes over a batch, per image, in milliseconds."""
    model.eval()
    batch = x[:LATENCY_BATCH]
    times = []
    with torch.no_grad():
        for _ in range(4):  # the first pass warms up and is dropped
            _sync(x.device)
            start = time.perf_counter()
            with autocast():
                model(batch)
            _sync(x.device)
            times.append(time.perf_counter() - start)
    model.train()
    return sorted(times[1:])[1] * 1000 / len(batch)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_network(config: dict, data: Dataset, *, epochs: int, seed: int, device: torch.device) -> RunResult:
    """Train one network on `data` (already on `device`); never raises for a bad config."""
    in_shape = tuple(data.x_train.shape[1:])
    # channels_last: oneDNN (CPU) and cuDNN (tensor cores) convolutions run faster in NHWC;
    # measured 20 % less training time on 2 CPU cores (BENCHMARKS.md).
    model = build_cnn(config, in_shape, data.num_classes, seed=seed).to(device, memory_format=torch.channels_last)
    use_bf16 = device.type == "cuda"
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)  # noqa: E731
    result = RunResult(
        status="ok", device=str(device),
        parameter_count=count_parameters(model), flops_per_sample=flops_per_sample(model, in_shape, device),
    )
    optimizer = make_optimizer(config, model.parameters())
    scheduler = None
    if config.get("lr_scheduler") in (True, "on", "cosine"):
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    generator = torch.Generator(device).manual_seed(seed)
    batch_size = int(config["batch_size"])
    n = len(data.x_train)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        order = torch.randperm(n, device=device, generator=generator)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            xb, yb = data.x_train[idx], data.y_train[idx]
            if config.get("augmentation"):
                xb = augment(xb, generator, flip=data.flip_keeps_label)
            with autocast():
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.argmax(1) == yb).sum()
        if scheduler is not None:
            scheduler.step()
        train_loss = loss_sum.item() / n
        train_acc = correct.item() / n
        if not math.isfinite(train_loss):
            result.status, result.error = "diverged", f"training loss became {train_loss} in epoch {epoch}"
            break
        val_loss, val_acc = evaluate(model, data.x_val, data.y_val, autocast)
        _sync(device)
        result.curve.append({
            "epoch": epoch, "train_loss": train_loss, "train_accuracy": train_acc,
            "val_loss": val_loss, "val_accuracy": val_acc, "learning_rate": lr,
            "seconds": time.perf_counter() - epoch_start,
        })
        result.epochs, result.train_loss, result.train_accuracy = epoch, train_loss, train_acc
    result.train_seconds = time.perf_counter() - started
    if result.status == "ok":
        result.test_loss, result.test_accuracy = evaluate(model, data.x_test, data.y_test, autocast)
        if not math.isfinite(result.test_loss):
            result.status, result.error = "diverged", f"test loss is {result.test_loss}"
        result.inference_ms_per_image = inference_latency_ms(model, data.x_test, autocast)
    return result
