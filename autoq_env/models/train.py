"""Train a model on a data set's train split and save the checkpoint the env loads.

The shipped ``checkpoints/resnet20-fashion-mnist.pt`` was made with the defaults::

    python -m autoq_env.models.train --model resnet20 --dataset fashion-mnist --epochs 20 --seed 0

SGD with Nesterov momentum 0.9, weight decay 5e-4, batch 128, a one-cycle learning rate peaking at
0.1, random crops (padding 2) and horizontal flips. Training uses only the ``train`` split: the
calibration and search splits are held out, and the test split only scores the final model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from autoq_env import atomic_io
from autoq_env.data import DATASETS, as_tensors, load_splits
from autoq_env.models import MODELS, build_model, default_checkpoint_path


def augment(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding (in normalised units) and random horizontal flip, batched."""
    n, _, height, width = images.shape
    padded = F.pad(images, (padding,) * 4, value=float(images.min()))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    rows = (dy.view(n, 1) + torch.arange(height).view(1, height))  # n x H
    cols = (dx.view(n, 1) + torch.arange(width).view(1, width))  # n x W
    batch = torch.arange(n).view(n, 1, 1)
    cropped = padded.permute(0, 2, 3, 1)[batch, rows.view(n, height, 1), cols.view(n, 1, width)]
    cropped = cropped.permute(0, 3, 1, 2)
    flip = torch.rand(n, generator=generator) < 0.5
    cropped[flip] = cropped[flip].flip(-1)
    return cropped.contiguous()


@torch.inference_mode()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` on the given tensors, in percent."""
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        logits = model(images[start:start + batch_size])
        correct += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    return 100.0 * correct / len(labels)


def train(model_name: str, dataset: str, data_root: str | None, epochs: int, batch_size: int, lr: float,
          weight_decay: float, seed: int, out: Path) -> dict:
    """Train and save ``model_name`` on ``dataset``; return the metadata written beside the checkpoint."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    splits = load_splits(dataset, data_root)
    images, labels = as_tensors(splits.train)
    model = build_model(model_name, splits.info, checkpoint=None)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    steps_per_epoch = len(labels) // batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch)
    padding = 2 if splits.info.image_size <= 32 else 16
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", leave=False)
        for step in bar:
            index = order[step * batch_size:(step + 1) * batch_size]
            batch = augment(images[index], padding, generator)
            loss = F.cross_entropy(model(batch), labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, {time.perf_counter() - started:.0f} s", flush=True)
    test_images, test_labels = as_tensors(splits.test)
    search_images, search_labels = as_tensors(splits.search)
    metadata = {
        "model": model_name, "dataset": dataset, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "weight_decay": weight_decay, "seed": seed, "train_images": len(labels),
        "test_top1": round(accuracy(model, test_images, test_labels), 2),
        "search_top1": round(accuracy(model, search_images, search_labels), 2),
        "train_seconds": round(time.perf_counter() - started, 1), "torch": torch.__version__,
    }
    atomic_io.torch_save(out, model.state_dict())
    atomic_io.write_json(out.with_suffix(".json"), metadata)
    return metadata


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet20", choices=MODELS)
    parser.add_argument("--dataset", default="fashion-mnist", choices=DATASETS)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="checkpoint path (default: the packaged checkpoint for model and dataset)")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    out = args.out or default_checkpoint_path(args.model, args.dataset)
    metadata = train(args.model, args.dataset, args.data_root, args.epochs, args.batch_size, args.lr,
                     args.weight_decay, args.seed, out)
    print(json.dumps(metadata, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
