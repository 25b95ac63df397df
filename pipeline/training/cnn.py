"""Build a CNN from a sampled configuration: `build_cnn(config, in_shape, num_classes)`.

The layout follows the neural-weight-space study: `conv_layers` convolutions spread over three
blocks, each block followed by 2x2 max-pooling, then `fc_layers` fully connected layers (the
output layer included). Built under a seed, so a run can be rebuilt from its warehouse row.
"""

from __future__ import annotations

import json
import math

import torch
from torch import nn

from pipeline.core import limits

ACTIVATIONS = {
    "relu": nn.ReLU, "elu": nn.ELU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU,
}
CONSTANT_INIT = 0.05  # every weight this value: symmetric units, the pathological corner of the space
NORMAL_INIT_STD = 0.05  # Keras' RandomNormal default, as in the original study
INITIALIZERS = {
    "constant": lambda w: nn.init.constant_(w, CONSTANT_INIT),
    "normal": lambda w: nn.init.normal_(w, 0.0, NORMAL_INIT_STD),
    "glorot_uniform": nn.init.xavier_uniform_,
    "glorot_normal": nn.init.xavier_normal_,
}
SWITCH = {False: False, True: True}


# ---- reading a configuration ---------------------------------------------------------------
# The builder and the trainer read every parameter through these, so that what they accept is
# declared where it is used: a bad value raises ConfigError naming the parameter and what it may
# be, and pipeline.training.train.check_space refuses a space by running these same reads.
_MISSING = object()


class ConfigError(ValueError):
    """A configuration the builder or trainer cannot use; the message names the parameter and what it may be."""

    def __init__(self, name: str, value, allowed: str):
        self.name, self.missing = name, value is _MISSING
        got = "is missing" if self.missing else f"= {_shown(value)} cannot be used"
        super().__init__(f"{name} {got}: {allowed}")


def _shown(value) -> str:
    return json.dumps(value, default=repr)  # as a space file writes it: "relu", true, 3


def option(config: dict, name: str, options: dict, default=_MISSING):
    """What config[name] stands for in `options` (allowed value -> meaning)."""
    value = config.get(name, default)
    try:
        if value in options:
            return options[value]
    except TypeError:  # unhashable: a list or a table
        pass
    raise ConfigError(name, value, f"use one of {', '.join(map(_shown, options))}")


def whole(config: dict, name: str, low: int, high: int, default=_MISSING, *, odd: bool = False) -> int:
    """config[name] as an int from `low` to `high` (a float is truncated, as int() does)."""
    value = config.get(name, default)
    allowed = f"use {'an odd' if odd else 'a'} whole number from {low:,} to {high:,}"
    if not (_is_number(value) and low <= int(value) <= high and (not odd or int(value) % 2)):
        raise ConfigError(name, value, allowed)
    return int(value)


def number(config: dict, name: str, low: float, default=_MISSING, *, above: bool = False) -> float:
    """config[name] as a finite float, at least `low` (or above it)."""
    value = config.get(name, default)
    if not (_is_number(value) and (value > low if above else value >= low)):
        raise ConfigError(name, value, f"use a number {'above' if above else 'of at least'} {low:g}")
    return float(value)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def block_sizes(conv_layers: int) -> list[int]:
    """Convolutions per block, front-loaded: 3 -> [1, 1, 1], 4 -> [2, 1, 1], 5 -> [2, 2, 1]."""
    return [conv_layers // 3 + (1 if b < conv_layers % 3 else 0) for b in range(3)]


def build_cnn(config: dict, in_shape: tuple[int, int, int], num_classes: int, *, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    act = option(config, "activation", ACTIVATIONS)
    channels, size, _ = in_shape
    # odd: padding k // 2 keeps the side, which the layout below counts on; beyond 2 x side - 1 a
    # kernel covers nothing but zero padding wherever it is
    kernel = whole(config, "kernel_size", 1, 2 * size - 1, odd=True)
    batch_norm = option(config, "batch_norm", SWITCH, False)
    conv_width = whole(config, "conv_width", 1, limits.MAX_WIDTH)
    layers: list[nn.Module] = []
    for b, n_convs in enumerate(block_sizes(whole(config, "conv_layers", 1, limits.MAX_LAYERS))):
        width = conv_width * 2**b
        for _ in range(n_convs):
            layers += [nn.Conv2d(channels, width, kernel, padding=kernel // 2, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(act())
            channels = width
        if size >= 2:
            layers.append(nn.MaxPool2d(2))
            size //= 2
    layers.append(nn.Flatten())
    features = channels * size * size
    fc_layers = whole(config, "fc_layers", 1, limits.MAX_LAYERS)  # the output layer included
    if fc_layers > 1:  # BOHBVIS calls the width hidden_size
        fc_width = whole(config, "hidden_size" if "fc_width" not in config and "hidden_size" in config
                         else "fc_width", 1, limits.MAX_WIDTH)
    for _ in range(fc_layers - 1):
        layers += [nn.Linear(features, fc_width), act()]
        features = fc_width
    layers.append(nn.Linear(features, num_classes))
    model = nn.Sequential(*layers)
    init = option(config, "init", INITIALIZERS, "glorot_uniform")
    if not layers[-1].weight.is_meta:  # a dry build (pipeline.training.train.check_config) has no values to set
        _initialize(model, init)
    return model


def _initialize(model: nn.Module, init) -> None:
    for module in model.modules():
        if not isinstance(module, nn.Conv2d | nn.Linear):
            continue
        init(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_sample(model: nn.Module, in_shape: tuple[int, int, int], device: torch.device) -> int:
    """Forward FLOPs for one image (a multiply-add counts 2), by torch's own FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *in_shape, device=device))
    model.train(was_training)
    return int(counter.get_total_flops())
