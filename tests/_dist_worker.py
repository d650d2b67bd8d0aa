"""Run by tests/test_training.py under torchrun: a few training steps of a tiny model on a toy dataset."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from spatialgan.training.distributed import init_from_env  # noqa: E402
from spatialgan.training.loop import Trainer  # noqa: E402
from training_fixtures import ToyImages, tiny_train_config  # noqa: E402

if __name__ == "__main__":
    dist = init_from_env("cpu")
    torch.set_num_threads(1)
    trainer = Trainer(tiny_train_config(), Path(sys.argv[1]), dataset=ToyImages(), dist=dist, progress=False)
    trainer.estimate_step_seconds()  # as spatialgan-train does on every process: it must leave the run as it was
    trainer.run()
    torch.save({k: v.clone() for k, v in trainer.G.state_dict().items()}, Path(sys.argv[1]) / f"G_rank{dist.rank}.pt")
