"""Train one method on one or more sites: run folders, checkpoints, resume, multi-process.

``train(config)`` writes ``<runs_dir>/<config.stable_hash()>/``:

- ``config.yaml``, ``splits.json`` ({site: {train, val, test}});
- ``history.csv``: one row per epoch (training losses, D train accuracy, validation Dice of
  S(G(x)) and losses on the fixed validation patches, D validation accuracy, learning rates,
  seconds);
- ``confusion/epoch-NNN.json`` and ``confusion.json`` (last epoch): D's normalized
  (K+1)x(K+1) confusion matrix on the validation patches (rows: true class, real domains then
  "generated"; adversarial method only);
- ``checkpoint.pt`` (atomic, every epoch: networks, optimizers, schedulers, sampler position,
  augmentation and global RNG states, history), ``final.pt`` (networks) and ``DONE``.

A finished run with the same configuration is reused. ``resume=True`` continues from the last
checkpoint and ends with exactly the weights of an uninterrupted run (same seed -> same numbers).

Under ``torchrun`` (env WORLD_SIZE/RANK/LOCAL_RANK) the networks are wrapped in
DistributedDataParallel (gloo on CPU, nccl on CUDA); every rank draws the same global batch
from the same seeded sampler and keeps ``batch[rank::world]``, so the global batch is the
1-process batch; only rank 0 writes files. Gradients are averaged over ranks; BatchNorm uses
each rank's own half batch (no SyncBatchNorm), so losses match a 1-process run only closely.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepnorm.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, seed_everything, set_rng_state
from deepnorm.training.config import Config
from deepnorm.errors import ConfigError, RunError
from deepnorm.files import atomic_write_text
from deepnorm.training.distributed import average_gradients_over_ranks, distributed_env, mean_over_ranks

HISTORY_FIELDS: tuple[str, ...] = (
    "epoch", "loss", "seg_loss", "adversarial", "d_loss", "d_accuracy", "val_seg_loss", "val_dice",
    "d_val_loss", "d_val_accuracy", "lr_gs", "lr_d", "seconds",
)


# --------------------------------------------------------------------------- environment
def resolve_device(device: str) -> torch.device:
    """"auto" -> cuda when available else cpu; "cuda" without a GPU raises ConfigError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device = 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    return torch.device(device)


def write_history(history: list[dict[str, Any]], path: str | Path) -> None:
    """Write the per-epoch rows as CSV (atomic)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(HISTORY_FIELDS), extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in HISTORY_FIELDS})
    atomic_write_text(Path(path), buffer.getvalue())


def read_history(path: str | Path) -> list[dict[str, float]]:
    """The rows of a history.csv as dicts of floats (epoch as int)."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = []
        for row in csv.DictReader(handle):
            parsed: dict[str, Any] = {k: (float(v) if v not in ("", None) else math.nan) for k, v in row.items()}
            parsed["epoch"] = int(parsed["epoch"])
            rows.append(parsed)
    return rows


# --------------------------------------------------------------------------- validation
@torch.no_grad()
def validate(method: Any, nets: Any, val: Any, *, batch_size: int, device: torch.device, amp: bool) -> dict[str, Any]:
    """Validation metrics on fixed patches `val` (a PatchBatch): Dice of S(G(x)), D accuracy/confusion."""
    from deepnorm.losses import domain_loss, weighted_dice_loss
    from deepnorm.metrics import confusion_matrix, dice

    nets.train(False)
    preds, seg_losses, d_true, d_pred, d_losses = [], [], [], [], []
    n = len(val.images)
    for start in range(0, n, batch_size):
        x = val.images[start : start + batch_size].to(device)
        y = val.labels[start : start + batch_size].to(device)
        with _autocast(device, amp):
            normalized = method.normalize(nets, x)
            probs = torch.softmax(nets.segmenter(normalized).float(), dim=1)
        seg_losses.append(float(weighted_dice_loss(probs, y)) * len(x))
        preds.append(probs.argmax(dim=1).cpu().numpy())
        if nets.discriminator is not None:
            k = nets.discriminator.n_domains
            with _autocast(device, amp):
                logits = nets.discriminator(torch.cat([x, normalized])).float()
            target = torch.cat([val.domains[start : start + batch_size].to(device), torch.full((len(x),), k, device=device)])
            d_losses.append(float(domain_loss(logits, target)) * len(target))
            d_true.append(target.cpu().numpy())
            d_pred.append(logits.argmax(dim=1).cpu().numpy())
    pred = np.concatenate(preds)
    scores = dice(pred, val.labels.numpy())
    out: dict[str, Any] = {"val_seg_loss": sum(seg_losses) / n, "val_dice": float(np.nanmean(scores))}
    if d_true:
        true, guess = np.concatenate(d_true), np.concatenate(d_pred)
        k1 = nets.discriminator.n_domains + 1
        out["d_val_loss"] = sum(d_losses) / len(true)
        out["d_val_accuracy"] = float(np.mean(true == guess))
        out["confusion"] = np.asarray(confusion_matrix(true, guess, k1, normalize=True), dtype=float).tolist()
    return out


def _autocast(device: torch.device, amp: bool) -> Any:
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------- training
def run_folder(config: Config, runs_dir: str | Path | None = None) -> Path:
    """``<runs_dir>/<config.stable_hash()>`` (runs_dir defaults to deepnorm.paths.runs_dir())."""
    from deepnorm import paths

    return Path(runs_dir if runs_dir is not None else paths.runs_dir()) / config.stable_hash()


def train(
    config: Config,
    *,
    data_root: str | Path | None = None,
    runs_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> Path:
    """Train `config` (see the module docstring) and return its run folder."""
    from deepnorm.data.prepared import AugmentedBatches, prepare_all
    from deepnorm.training.methods import method_for, unwrap
    from deepnorm.sampling import PatchSampler

    folder = run_folder(config, runs_dir)
    if (folder / "DONE").is_file():
        return folder
    rank, world, local_rank = distributed_env()
    writer = rank == 0
    device = resolve_device(config.train.device)
    amp = config.train.amp and device.type == "cuda"
    if world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if config.train.batch_size % world:
            raise ConfigError(
                f"train.batch_size = {config.train.batch_size} is not divisible by the {world} processes; "
                "choose a global batch size that is a multiple of --nproc_per_node"
            )
    if progress is None:
        progress = sys.stderr.isatty() and writer
    seed = config.train.seed
    if data_root is None:
        from deepnorm.data.phantom.build import ensure_phantom

        data_root = ensure_phantom(profile=config.profile, seed=seed)

    volumes, splits = prepare_all(data_root, config.data, runs_dir=folder.parent, seed=seed, progress=progress)
    for name in ("train", "val"):
        if not volumes[name]:
            raise RunError(f"no {name} subjects for sites {config.data.sites} under {data_root}: check the data root")
    method = method_for(config)
    domain_of = {site: z for z, site in enumerate(config.data.sites)}

    def sampler_for(split: str, offset: int) -> PatchSampler:
        prepared = volumes[split]
        return PatchSampler(
            [method.prepare_volume(p.image, p.mask) for p in prepared],
            [p.labels for p in prepared],
            config.data.patch_size,
            domains=[domain_of[p.site] for p in prepared],
            seed=seed + offset,
            balance=True,
        )

    batches = AugmentedBatches(
        sampler_for("train", 0), config.train.batch_size, p=config.data.bias_augment, seed=seed, rank=rank, world=world
    )
    val = sampler_for("val", 1).sample(config.data.n_domains * config.data.val_patches_per_site)

    seed_everything(seed)
    nets = method.build(seed).to(device)
    opts = method.optimizers(nets)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    checkpoint_path = folder / "checkpoint.pt"
    if resume and checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path, map_location=device)
        for name, net in nets.items():
            net.load_state_dict(state["nets"][name])
        opts.load_state_dict(state["optimizers"])
        batches.load_state_dict(state["batches"])
        history = list(state["history"])
        start_epoch = int(state["epoch"])
        set_rng_state(state["rng"])
    else:
        if writer:
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            config.to_yaml(folder / "config.yaml")
            atomic_write_text(folder / "splits.json", json.dumps(splits, indent=2) + "\n")
        seed_everything(seed)  # every rank starts from the same RNG state

    train_nets = nets
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        from deepnorm.training.methods import Nets

        wrap = lambda net: None if net is None else DDP(net, device_ids=[device] if device.type == "cuda" else None)  # noqa: E731
        # D is also called, frozen, inside the G/S step, where DDP would wait for gradients that
        # never come: its gradients are averaged over ranks by hooks instead (same arithmetic)
        if nets.discriminator is not None:
            average_gradients_over_ranks(nets.discriminator, world)
        train_nets = Nets(wrap(nets.generator), wrap(nets.segmenter), nets.discriminator)

    epochs = config.train.epochs
    n_iter = config.batches_per_epoch
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=(epochs - start_epoch) * n_iter, desc=f"{config.train.method} {folder.name}", leave=False)
    for epoch in range(start_epoch, epochs):
        tic = time.perf_counter()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for _ in range(n_iter):
            with _autocast(device, amp):
                stats = method.train_iteration(train_nets, opts, batches)
            for key, value in stats.items():
                if not math.isnan(value):
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
            if bar is not None:
                bar.update(1)
        means = {k: sums[k] / counts[k] for k in sums}
        if world > 1:
            means = mean_over_ranks(means, device)
        plain = type(nets)(unwrap(nets.generator), unwrap(nets.segmenter), unwrap(nets.discriminator))
        metrics = validate(method, plain, val, batch_size=config.eval_.batch_size, device=device, amp=amp)
        lrs = opts.lrs()
        opts.gs_scheduler.step()
        if opts.d_scheduler is not None:
            opts.d_scheduler.step(metrics["d_val_loss"])
        row = {
            "epoch": epoch + 1,
            **{k: means.get(k, math.nan) for k in ("loss", "seg_loss", "adversarial", "d_loss", "d_accuracy")},
            **{k: metrics.get(k, math.nan) for k in ("val_seg_loss", "val_dice", "d_val_loss", "d_val_accuracy")},
            "lr_gs": lrs["lr_gs"],
            "lr_d": lrs.get("lr_d", math.nan),
            "seconds": time.perf_counter() - tic,
        }
        history.append(row)
        if writer:
            write_history(history, folder / "history.csv")
            if "confusion" in metrics:
                labels = [*config.data.sites, "generated"]
                text = json.dumps({"epoch": epoch + 1, "labels": labels, "matrix": metrics["confusion"]}, indent=1)
                (folder / "confusion").mkdir(exist_ok=True)
                atomic_write_text(folder / "confusion" / f"epoch-{epoch + 1:03d}.json", text + "\n")
                atomic_write_text(folder / "confusion.json", text + "\n")
            save_checkpoint(
                {
                    "epoch": epoch + 1,
                    "nets": {name: net.state_dict() for name, net in nets.items()},
                    "optimizers": opts.state_dict(),
                    "batches": batches.state_dict(),
                    "history": history,
                    "rng": rng_state(),
                },
                checkpoint_path,
            )
    if bar is not None:
        bar.close()
    if writer:
        save_checkpoint(
            {"config": config.to_dict(), "nets": {name: net.state_dict() for name, net in nets.items()}},
            folder / "final.pt",
        )
        atomic_write_text(folder / "DONE", f"{len(history)} epochs\n")
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return folder
