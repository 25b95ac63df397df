"""The flags every job shares (`JobFlags`, with the data flags), and the errors a job reports as a message.

A job's config extends JobFlags with its own flags, and gives a shared flag its own default or help
with `cli.reflag`. Defaults are the ensemble's; pipeline.bohb overrides those a sweep needs otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from pipeline.core import cli, limits
from pipeline.core.cli import UsageError, flag
from pipeline.core.space import SpaceError
from pipeline.training.data_spec import DatasetError, DataSpec
from pipeline.warehouse import store

# what main() turns into `prog: error: message` and exit code 2
JOB_ERRORS = (UsageError, SpaceError, DatasetError, store.WarehouseError, ValueError)


@dataclass(frozen=True)
class DataFlags:
    """The data flags every job shares (ensemble, sweep); `data_spec` turns them into a DataSpec."""

    image_size: int = flag(16, "pixels per side every dataset is resized to", bounds=limits.IMAGE_SIZE)
    channels: int = flag(1, "1 = grayscale, 3 = RGB", choices=(1, 3), bounds=(1, 3))
    train_size: int = flag(2000, "images per procedural dataset for training and validation", bounds=limits.TRAIN_SIZE)
    test_size: int = flag(500, "test images per procedural dataset", bounds=limits.TEST_SIZE)
    data_seed: int = flag(0, "seed of dataset generation and of the train/validation split", bounds=limits.SEED)
    data_dir: str = flag("data/datasets", "folder of torchvision datasets")
    download: bool = flag(False, "let torchvision download a missing standard dataset")

    @property
    def data_spec(self) -> DataSpec:
        return DataSpec(image_size=self.image_size, channels=self.channels, train_size=self.train_size,
                        test_size=self.test_size, seed=self.data_seed, data_dir=self.data_dir, download=self.download)

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """(channels, size, size) of every image of the study."""
        return self.channels, self.image_size, self.image_size

    def check_data(self) -> None:
        """The images of one split fit in memory (each flag is bounded on its own; this is their product)."""
        image_bytes = self.image_size**2 * self.channels * 4
        largest = max(self.train_size, self.test_size)
        if largest * image_bytes > limits.IMAGE_BYTES:
            raise UsageError(f"--train-size/--test-size {largest:,} images of --image-size {self.image_size} x "
                             f"--channels {self.channels} are {largest * image_bytes / 2**30:,.0f} GiB of float32; "
                             f"keep it under {limits.IMAGE_BYTES / 2**30:.0f} GiB (fewer or smaller images)")


@dataclass(frozen=True)
class JobFlags(DataFlags):
    """What every job that writes a study takes: its name, seed, space, device, workers and warehouse."""

    identity: ClassVar[tuple[str, ...]] = ()  # settings that decide what a study's runs are; a resume must match
    help_order: ClassVar[tuple[str, ...]] = ()  # the job's flags in --help, before the data flags

    study: str = flag(None, "name of the study; the same name continues an earlier run of it")
    seed: int = flag(0, "sampler seed: the same seed gives the same configurations", bounds=limits.SEED)
    space: str = flag("ensemble", "search space: a TOML file, or a name in pipeline/spaces/")
    device: str = flag("auto", "auto, cpu, cuda or cuda:N")
    workers: int = flag(0, "worker processes; 0 = one per CPU core on CPU, 4 per GPU on CUDA", bounds=limits.WORKERS)
    warehouse: str | None = flag(None, f"warehouse file (default: ${store.PATH_ENV_VAR} or {store.DEFAULT_PATH})")
    flush_seconds: float = flag(2.0, "write finished networks to the warehouse at most this often",
                                bounds=limits.FLUSH_SECONDS)

    def validate(self) -> None:
        cli.check_study(self.study)
        self.check_data()
        cli.check_device(self.device)

    def settings(self) -> dict:
        """The study's identity settings, stored with it and compared on every resume."""
        return {k: v for k, v in asdict(self).items() if k in self.identity}
