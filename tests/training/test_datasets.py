import struct

import numpy as np
import pytest
import torch

from pipeline.training.datasets import BUILTIN, DatasetError, DataSpec, load

SMALL = DataSpec(image_size=12, train_size=300, test_size=100)


@pytest.mark.parametrize("name", BUILTIN)
def test_builtins_have_the_study_shape_and_are_standardized(name):
    data = load(name, SMALL)
    for x in (data.x_train, data.x_val, data.x_test):
        assert x.shape[1:] == (1, 12, 12) and x.dtype == torch.float32
    assert abs(data.x_train.mean().item()) < 1e-4 and abs(data.x_train.std().item() - 1) < 1e-3
    assert set(data.y_train.unique().tolist()) == set(range(data.num_classes))
    if name != "digits":  # procedural sizes are parameters; digits is the 1,797 images it ships with
        assert len(data.x_train) + len(data.x_val) == 300 and len(data.x_test) == 100
    else:
        assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 1797


@pytest.mark.parametrize("name", ["shapes", "gratings"])
def test_procedural_sets_are_deterministic_by_seed(name):
    a, b = load(name, SMALL), load(name, SMALL)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    c = load(name, DataSpec(image_size=12, train_size=300, test_size=100, seed=1))
    assert not torch.equal(a.x_train, c.x_train)


def test_rgb_study_shape_replicates_grey():
    data = load("digits", DataSpec(image_size=8, channels=3))
    assert data.x_train.shape[1:] == (3, 8, 8)
    assert torch.equal(data.x_train[:, 0], data.x_train[:, 2])


def test_flip_only_where_it_keeps_the_label():
    assert load("shapes", SMALL).flip_keeps_label
    assert not load("gratings", SMALL).flip_keeps_label and not load("digits", SMALL).flip_keeps_label


def test_unknown_dataset_is_refused():
    with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
        load("nope", SMALL)


def _torchvision_importable() -> tuple[bool, str]:
    try:
        import torchvision.datasets  # noqa: F401
    except Exception as err:  # the CUDA-only wheel fails on a CPU torch with RuntimeError
        return False, f"torchvision cannot be imported here: {err}"
    return True, ""


TV_OK, TV_WHY = _torchvision_importable()


def _write_idx(path, array: np.ndarray) -> None:
    """MNIST's IDX format: magic (0, 0, 0x08 ubyte, ndim), big-endian dims, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.skipif(not TV_OK, reason=TV_WHY)
@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_standard_sets_load_from_torchvision_files(tmp_path, name, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    data = load(name, DataSpec(image_size=16, data_dir=str(tmp_path)))
    assert data.x_train.shape[1:] == (1, 16, 16)
    assert len(data.x_train) + len(data.x_val) == 60 and len(data.x_test) == 20
    assert data.num_classes == 10


@pytest.mark.skipif(TV_OK, reason="torchvision imports here; the unavailable path is not reachable")
def test_standard_set_without_torchvision_says_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="needs torchvision"):
        load("mnist", DataSpec(data_dir=str(tmp_path)))


@pytest.mark.skipif(not TV_OK, reason=TV_WHY)
def test_missing_standard_set_says_where_to_put_it(tmp_path):
    with pytest.raises(DatasetError, match="is not in"):
        load("mnist", DataSpec(data_dir=str(tmp_path)))
