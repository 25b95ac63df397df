"""The CUDA path: bf16 autocast, data resident on the GPU. Skipped where torch sees no GPU."""

import pytest
import torch

from pipeline.training.datasets import DataSpec, load
from pipeline.training.train import train_network
from tests.training.test_train import SANE

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def test_training_on_cuda_learns_digits_in_bf16():
    device = torch.device("cuda")
    data = load("digits", DataSpec(image_size=8)).to(device)
    result = train_network(SANE | {"augmentation": True}, data, epochs=12, seed=0, device=device)
    assert result.status == "ok" and result.device.startswith("cuda")
    assert result.test_accuracy > 0.9
