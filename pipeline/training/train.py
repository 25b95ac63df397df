"""Train one network fast: `train_network(config, data, epochs=..., seed=..., device=...)`.

The whole dataset is one channels-last tensor on the device; a batch is an index slice of a random
permutation; augmentation (random crop, flip where it keeps the label) is batched tensor ops;
no DataLoader. bf16 autocast on CUDA. Loss and accuracy are summed on the device and read once
per epoch, so the hot loop never waits for the GPU. A non-finite loss ends the run as
`diverged` at the end of that epoch, with the curve up to there.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F

from pipeline.core import limits
from pipeline.core.space import Space, SpaceError
from pipeline.training.cnn import (
    SWITCH,
    ConfigError,
    build_cnn,
    count_parameters,
    flops_per_sample,
    number,
    option,
    whole,
)
from pipeline.training.datasets import Dataset

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


# name -> (config, lr, weight decay) -> the optimizer class with its settings; momentum is read only where used
OPTIMIZERS = {
    "adam": lambda config, **common: partial(torch.optim.Adam, **common),
    "rmsprop": lambda config, **common: partial(torch.optim.RMSprop, **common,
                                                momentum=number(config, "momentum", 0.0, 0.0)),
    "sgd_momentum": lambda config, **common: partial(torch.optim.SGD, **common,
                                                     momentum=number(config, "momentum", 0.0, 0.9)),
}
OPTIMIZERS |= {"rms": OPTIMIZERS["rmsprop"], "sgd": OPTIMIZERS["sgd_momentum"]}  # BOHBVIS's names
LR_SCHEDULES = {False: False, "off": False, True: True, "on": True, "cosine": True}  # cosine annealing or none


def optimizer_of(config: dict) -> partial:
    """The optimizer `config` asks for, still to be given a model's parameters: every read, no construction
    (constructing the first optimizer of a process imports torch._dynamo, ~1 s)."""
    common = {"lr": number(config, "learning_rate", 0.0, above=True),
              "weight_decay": number(config, "weight_decay", 0.0, 0.0)}
    return option(config, "optimizer", OPTIMIZERS)(config, **common)


def make_optimizer(config: dict, params) -> torch.optim.Optimizer:
    return optimizer_of(config)(params)


@dataclass(frozen=True)
class Schedule:
    """What the training loop reads of a configuration besides the network and its optimizer."""

    batch_size: int
    augmentation: bool
    cosine: bool

    @classmethod
    def of(cls, config: dict) -> Schedule:
        return cls(batch_size=whole(config, "batch_size", 1, limits.TRAIN_SIZE[1]),
                   augmentation=option(config, "augmentation", SWITCH, False),
                   cosine=option(config, "lr_scheduler", LR_SCHEDULES, False))


def check_config(config: dict, in_shape: tuple[int, int, int], num_classes: int = 10) -> int:
    """Read `config` as train_network does and build its network on the meta device (shapes, no
    memory); its parameter count. Raises ConfigError for a configuration every run of which would fail.

    No image goes through it: the builder's reads keep its layout consistent (an odd kernel keeps the
    side it counts on), and the first forward pass on meta imports torch's reference kernels (~1 s).
    """
    Schedule.of(config)
    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # build_cnn seeds torch's global generator
        model = build_cnn(config, in_shape, num_classes, seed=0)
    optimizer_of(config)
    return count_parameters(model)


def check_space(space: Space, in_shape: tuple[int, int, int], *, source: str, with_fixed: bool) -> None:
    """Refuse a space with a configuration train_network cannot use, before a study is written.

    Each probe of the space (every option and range end once, Space.probes) goes through
    check_config: a parameter the builder or trainer needs and the space lacks, a value they do
    not take, a network that does not fit the image or one device. `with_fixed`: the job adds the
    space's [fixed] table to every configuration (sweeps do; an ensemble samples everything).
    """
    for name, value, config in space.probes():
        probe = f"{name} = {json.dumps(value)}, the others at their first option or low end"
        try:
            parameters = check_config({**space.fixed, **config} if with_fixed else config, in_shape)
        except ConfigError as err:
            where = "search it, or set it in the [fixed] table" if with_fixed else (
                "an ensemble searches every parameter ([fixed] is for sweeps): give it as choices = [value]"
                if err.name in space.fixed else f"search it, e.g. [{err.name}] choices = [value]")
            raise SpaceError(f"--space {source}: {err}" + (f"; {where}" if err.missing else "")) from None
        except (RuntimeError, ValueError) as err:  # the builder's own (torch's) refusal: name the probe
            raise SpaceError(f"--space {source}: the network of {probe} cannot be built on {in_shape[1]}-pixel "
                             f"images ({str(err).splitlines()[0]})") from None
        if parameters > limits.MAX_NETWORK_PARAMETERS:
            raise SpaceError(f"--space {source}: the network of {probe} has {parameters:,} parameters, more than "
                             f"{limits.MAX_NETWORK_PARAMETERS:,}; narrow its widths or layers")


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
    """Train one network on `data` (already on `device`); a divergence is a result, a config the network
    cannot be built or trained from raises ConfigError (the runner records it as a failed run)."""
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
    schedule = Schedule.of(config)
    scheduler = None
    if schedule.cosine:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    generator = torch.Generator(device).manual_seed(seed)
    batch_size = schedule.batch_size
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
            if schedule.augmentation:
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
