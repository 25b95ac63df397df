import torch

from pipeline.training.datasets import DataSpec, load
from pipeline.training.train import augment, train_network

SANE = {"batch_size": 64, "augmentation": False, "optimizer": "adam", "activation": "relu", "init": "glorot_uniform",
        "learning_rate": 3e-3, "conv_layers": 3, "conv_width": 8, "kernel_size": 3, "fc_layers": 3, "fc_width": 32,
        "batch_norm": True}
CPU = torch.device("cpu")


def test_a_sane_config_learns_digits():
    torch.set_num_threads(1)
    data = load("digits", DataSpec(image_size=8))
    result = train_network(SANE, data, epochs=12, seed=0, device=CPU)
    assert result.status == "ok"
    assert result.test_accuracy > 0.9
    assert len(result.curve) == 12 and result.epochs == 12
    assert result.curve[-1]["val_accuracy"] > result.curve[0]["val_accuracy"]
    assert result.inference_ms_per_image > 0 and result.flops_per_sample > 0


def test_divergence_is_recorded_not_raised():
    data = load("shapes", DataSpec(image_size=8, train_size=200, test_size=50))
    config = SANE | {"optimizer": "sgd_momentum", "learning_rate": 1e12, "batch_norm": False}
    result = train_network(config, data, epochs=3, seed=0, device=CPU)
    assert result.status == "diverged"
    assert "loss became nan" in result.error or "loss became inf" in result.error
    assert result.test_accuracy is None
    assert len(result.curve) == result.epochs < 3


def test_same_seed_same_result():
    data = load("shapes", DataSpec(image_size=8, train_size=200, test_size=50))
    config = SANE | {"augmentation": True}
    a = train_network(config, data, epochs=2, seed=3, device=CPU)
    b = train_network(config, data, epochs=2, seed=3, device=CPU)
    assert a.test_accuracy == b.test_accuracy
    assert [p["train_loss"] for p in a.curve] == [p["train_loss"] for p in b.curve]


def test_augmentation_crops_and_flips_as_batched_ops():
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    out = augment(x, torch.Generator().manual_seed(0), flip=False)
    assert out.shape == x.shape
    # a crop of the zero-padded image: every row is a shifted run of the original row or zeros
    for img, orig in zip(out, x):
        assert set(img.flatten().tolist()) <= set(orig.flatten().tolist()) | {0.0}
    flipped = [augment(x, torch.Generator().manual_seed(s), flip=True) for s in range(20)]
    # with flips on, some outputs have decreasing rows (mirrored), which a crop alone never gives
    assert any((f[0, 0, 3, 2] > f[0, 0, 3, 3]).item() for f in flipped)
    assert not any((augment(x, torch.Generator().manual_seed(s), flip=False)[0, 0, 3, 2]
                    > augment(x, torch.Generator().manual_seed(s), flip=False)[0, 0, 3, 3]).item() for s in range(20))
