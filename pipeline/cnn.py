"""Build a CNN from a sampled configuration: `build_cnn(config, in_shape, num_classes)`.

The layout follows the neural-weight-space study: `conv_layers` convolutions spread over three
blocks, each block followed by 2x2 max-pooling, then `fc_layers` fully connected layers (the
output layer included). Built under a seed, so a run can be rebuilt from its warehouse row.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU, "elu": nn.ELU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU,
}
CONSTANT_INIT = 0.05  # every weight this value: symmetric units, the pathological corner of the space
NORMAL_INIT_STD = 0.05  # Keras' RandomNormal default, as in the original study


def block_sizes(conv_layers: int) -> list[int]:
    """Convolutions per block, front-loaded: 3 -> [1, 1, 1], 4 -> [2, 1, 1], 5 -> [2, 2, 1]."""
    return [conv_layers // 3 + (1 if b < conv_layers % 3 else 0) for b in range(3)]


def build_cnn(config: dict, in_shape: tuple[int, int, int], num_classes: int, *, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    act = ACTIVATIONS[config["activation"]]
    channels, size, _ = in_shape
    kernel = int(config["kernel_size"])
    layers: list[nn.Module] = []
    for b, n_convs in enumerate(block_sizes(int(config["conv_layers"]))):
        width = int(config["conv_width"]) * 2**b
        for _ in range(n_convs):
            layers += [nn.Conv2d(channels, width, kernel, padding=kernel // 2, bias=not config.get("batch_norm"))]
            if config.get("batch_norm"):
                layers.append(nn.BatchNorm2d(width))
            layers.append(act())
            channels = width
        if size >= 2:
            layers.append(nn.MaxPool2d(2))
            size //= 2
    layers.append(nn.Flatten())
    features = channels * size * size
    fc_width = int(config.get("fc_width", config.get("hidden_size", 0)))  # BOHBVIS calls it hidden size
    for _ in range(int(config["fc_layers"]) - 1):
        layers += [nn.Linear(features, fc_width), act()]
        features = fc_width
    layers.append(nn.Linear(features, num_classes))
    model = nn.Sequential(*layers)
    _initialize(model, config.get("init", "glorot_uniform"))
    return model


def _initialize(model: nn.Module, scheme: str) -> None:
    for module in model.modules():
        if not isinstance(module, nn.Conv2d | nn.Linear):
            continue
        if scheme == "constant":
            nn.init.constant_(module.weight, CONSTANT_INIT)
        elif scheme == "normal":
            nn.init.normal_(module.weight, 0.0, NORMAL_INIT_STD)
        elif scheme == "glorot_uniform":
            nn.init.xavier_uniform_(module.weight)
        elif scheme == "glorot_normal":
            nn.init.xavier_normal_(module.weight)
        else:
            raise ValueError(f"unknown initialization '{scheme}'")
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
