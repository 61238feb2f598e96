"""Train one method on one or more sites: run folders, checkpoints, resume, multi-process.

``train(config)`` writes the run folder ``<runs_dir>/<run_key>/`` whose layout
:mod:`deepnorm.training.folder` describes and owns. What the training puts in it: ``history.csv``,
one row per epoch (:func:`_history_row`: training losses; D's train accuracy over all its
patches, on real patches (own site) and on generated ones; validation Dice of S(G(x)) and losses
on the fixed validation patches; D's validation loss (Eq. 2 as trained: the mean over real
patches plus the mean over generated ones) and accuracies; the learning rates of the epoch's
last iteration; seconds); D's normalized (K+1)x(K+1) confusion matrix on the validation patches
each epoch (rows: true class, real domains then "generated"; adversarial method only); an atomic
checkpoint every epoch (networks, optimizers, schedulers, sampler position, augmentation and
global RNG states, history); the final networks and ``DONE``; and, for a population method
("nyul"), the fit on the training subjects of every site before the first epoch, read back on
resume instead of fitted again.

A finished run with the same configuration and data is reused. ``resume=True`` continues from
the last checkpoint and ends with exactly the weights of an uninterrupted run (same seed -> same
numbers); an unfinished run is never discarded silently: without ``resume`` it is refused unless
``force=True`` starts it over. The process that trains holds ``<run>/.lock``: a second training
of the same run refuses, naming the PID. SIGINT and SIGTERM stop the training after keeping the
last finished epoch and raise :class:`~deepnorm.errors.Interrupted`, which says how to resume.

Under ``torchrun`` (env WORLD_SIZE/RANK/LOCAL_RANK) the networks are wrapped in
DistributedDataParallel (gloo on CPU, nccl on CUDA); every rank draws the same global batch
from the same seeded sampler and keeps ``batch[rank::world]``, so the global batch is the
1-process batch; only rank 0 writes files. Gradients are averaged over ranks; BatchNorm uses
each rank's own half batch (no SyncBatchNorm), so losses match a 1-process run only closely.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from deepnorm.data.manifest import Manifest
from deepnorm.devices import cuda_determinism, resolve_device
from deepnorm.errors import ConfigError, Interrupted, RunError
from deepnorm.files import atomic_write_text
from deepnorm.precision import autocast, runs_in_bf16
from deepnorm.sampling import PatchBatch
from deepnorm.training import runs
from deepnorm.training.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from deepnorm.training.config import Config
from deepnorm.training.distributed import (
    average_gradients_over_ranks,
    distributed_env,
    mean_over_ranks,
)
from deepnorm.training.methods.base import Method, Nets, Optimizers, unwrap
from deepnorm.training.runs import (
    HISTORY_FIELDS,
    read_history,
    run_folder,
    write_history,
)

if TYPE_CHECKING:
    from deepnorm.data.prepared import AugmentedBatches

__all__ = ["HISTORY_FIELDS", "read_history", "run_folder", "train", "validate", "write_history"]


# --------------------------------------------------------------------------- stopping on signals
class _Stop(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM while training."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _StopSignals:
    """SIGINT and SIGTERM raise :class:`_Stop`, except inside :meth:`deferred` (file writes), after which they do."""

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self.deferring = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if not self.deferring:
            raise _Stop(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Install the handlers for the block (only in the main thread; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self._handle) for s in self._SIGNALS}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block that a signal does not cut short; the stop happens at its end."""
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.received is not None:
            raise _Stop(self.received)


# --------------------------------------------------------------------------- validation
@torch.no_grad()
def validate(method: Method, nets: Nets, val: PatchBatch, *, batch_size: int, device: torch.device, amp: bool,
             seed: int = 0) -> dict[str, Any]:
    """Validation metrics on fixed patches `val` (a PatchBatch): Dice of S(G(x)), D accuracy/confusion.

    G and S are judged in eval mode; D is judged as it is trained, in train mode (its dropout on),
    with its dropout drawn from a generator seeded by `seed` inside a forked RNG, so validation
    neither depends on nor disturbs the training's random stream. The segmentation loss is the
    configured one (`method.config.train.dice_loss`).
    """
    nets.train(False)
    if nets.discriminator is not None:
        nets.discriminator.train(True)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return _validate(method, nets, val, batch_size=batch_size, device=device, amp=amp)


def _validate(method: Method, nets: Nets, val: PatchBatch, *, batch_size: int, device: torch.device, amp: bool) -> dict[str, Any]:
    from deepnorm.losses import dice_loss_by_name, domain_loss
    from deepnorm.metrics import confusion_matrix, dice

    seg_loss = dice_loss_by_name(method.config.train.dice_loss)
    preds, seg_losses, d_true, d_pred, d_losses = [], [], [], [], []
    n = len(val.images)
    for start in range(0, n, batch_size):
        x = val.images[start : start + batch_size].to(device)
        y = val.labels[start : start + batch_size].to(device)
        with autocast(amp, device):
            normalized = method.normalize(nets, x)
            probs = torch.softmax(nets.segmenter(normalized).float(), dim=1)
        seg_losses.append(float(seg_loss(probs, y)) * len(x))
        preds.append(probs.argmax(dim=1).cpu().numpy())
        if nets.discriminator is not None:
            k = nets.discriminator.n_domains
            domains = val.domains[start : start + batch_size].to(device)
            fake = torch.full((len(x),), k, device=device)
            with autocast(amp, device):  # two passes, as D is trained (discriminator_update)
                logits_real = nets.discriminator(x).float()
                logits_generated = nets.discriminator(normalized).float()
            # D's training loss: the mean over real patches plus the mean over generated ones
            d_losses.append((float(domain_loss(logits_real, domains)) + float(domain_loss(logits_generated, fake))) * len(x))
            d_true.append(torch.cat([domains, fake]).cpu().numpy())
            d_pred.append(torch.cat([logits_real, logits_generated]).argmax(dim=1).cpu().numpy())
    pred = np.concatenate(preds)
    scores = dice(pred, val.labels.numpy())
    out: dict[str, Any] = {"val_seg_loss": sum(seg_losses) / n, "val_dice": float(np.nanmean(scores))}
    if d_true:
        assert nets.discriminator is not None  # only D's answers fill d_true
        true, guess = np.concatenate(d_true), np.concatenate(d_pred)
        k1 = nets.discriminator.n_domains + 1
        generated = true == k1 - 1
        out["d_val_loss"] = sum(d_losses) / n
        out["d_val_accuracy"] = float(np.mean(true == guess))
        out["d_val_accuracy_real"] = float(np.mean(guess[~generated] == true[~generated]))
        out["d_val_accuracy_generated"] = float(np.mean(guess[generated] == true[generated]))
        out["confusion"] = np.asarray(confusion_matrix(true, guess, k1, normalize=True), dtype=float).tolist()
    return out


# --------------------------------------------------------------------------- training
def train(
    config: Config,
    *,
    data_root: str | Path | None = None,
    runs_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool | None = None,
) -> Path:
    """Train `config` on `data_root` (default: the profile's phantom) and return its run folder.

    A finished run of the same configuration and data is returned as it is, unless `force`.
    `resume` continues an unfinished run from its last checkpoint; `force` starts it over.

    Raises:
        RunError: the run is being trained by another process (names its PID), it is unfinished
            and neither `resume` nor `force` is given, or its files are unusable.
        Interrupted: SIGINT or SIGTERM stopped the training; the finished epochs are kept.
    """
    from deepnorm.data.manifest import data_manifest
    from deepnorm.data.roots import resolve_data_root

    root = resolve_data_root(data_root, profile=config.profile, seed=config.train.seed)
    manifest = data_manifest(root, config.data.sites)
    folder = run_folder(config, runs_dir, manifest)
    rank, world, local_rank = distributed_env()
    writer = rank == 0
    if progress is None:
        progress = sys.stderr.isatty() and writer
    signals = _StopSignals()
    with runs.run_lock(folder) if writer else contextlib.nullcontext(), signals.installed():
        if (folder / runs.DONE).is_file() and not force:
            info = runs.read_run_info(folder)
            if info is not None:
                runs.check_same_data(folder, info["manifest"], manifest)
            return folder
        if writer and not resume and not force:
            done = runs.finished_epochs(folder)
            if done:
                raise RunError(
                    f"{folder} has {done} finished epochs: pass resume=True (--resume) to continue "
                    "or force=True (--force) to start over"
                )
        try:
            # fixed patch shapes: on CUDA, cuDNN's fastest kernels, or deterministic ones (train.deterministic)
            with cuda_determinism(resolve_device(config.train.device), config.train.deterministic):
                return _train(config, root, manifest, folder, resume=resume and not force, progress=progress,
                              signals=signals, rank=rank, world=world, local_rank=local_rank)
        except _Stop as stop:
            done = runs.finished_epochs(folder) if writer else 0
            name = signal.Signals(stop.signum).name
            raise Interrupted(
                f"training stopped by {name} after {done} finished epoch(s), kept in {folder}; continue it with "
                "the same `deepnorm train ...` command plus --resume (or train(config, resume=True))"
            ) from None


def _train(config: Config, root: Path, manifest: Manifest, folder: Path, *, resume: bool, progress: bool,
           signals: _StopSignals, rank: int, world: int, local_rank: int) -> Path:
    """The training itself (see :func:`train`), in the locked run folder: the process group, the
    data and the method, a restored or a fresh start, the epochs, then the final weights."""
    from deepnorm.data.prepared import prepare_all
    from deepnorm.training.methods import method_for

    writer = rank == 0
    device = _process_group(config, world, local_rank)
    amp = runs_in_bf16(config, device)
    seed = config.train.seed
    volumes, splits = prepare_all(root, config.data, runs_dir=folder.parent, seed=seed, progress=progress)
    for name in ("train", "val"):
        if not volumes[name]:
            raise RunError(f"no {name} subjects for sites {config.data.sites} under {root}: check the data root")
    method = method_for(config)
    resuming = resume and (folder / runs.CHECKPOINT).is_file()
    if method.needs_fit:
        if resuming:  # the fit the finished epochs were trained with, never a new one
            runs.read_fit(folder, method)
        else:  # a population method learns from the training subjects of every site
            method.fit([(p.image, p.mask) for p in volumes["train"]])
    batches, val = _patches(config, method, volumes, rank=rank, world=world)

    seed_everything(seed)
    nets = method.build(seed).to(device)
    opts = method.optimizers(nets)
    if resuming:
        history = _restore(folder / runs.CHECKPOINT, nets, opts, batches, device)
    else:
        history = []
        if writer:
            _start_fresh(folder, config, manifest, splits, method)
        seed_everything(seed)  # every rank starts from the same RNG state
    train_nets = _for_ranks(nets, world, device)

    start_epoch, epochs, n_iter = len(history), config.train.epochs, config.batches_per_epoch
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=(epochs - start_epoch) * n_iter, desc=f"{config.train.method} {folder.name}", leave=False)
    for epoch in range(start_epoch, epochs):
        tic = time.perf_counter()
        means, lrs = _one_epoch(method, train_nets, opts, batches, n_iter, amp=amp, device=device, bar=bar)
        if world > 1:
            means = mean_over_ranks(means, device)
        plain = type(nets)(unwrap(nets.generator), unwrap(nets.segmenter), nets.discriminator)  # D is never wrapped
        metrics = validate(method, plain, val, batch_size=config.eval_.batch_size, device=device, amp=amp, seed=seed)
        if opts.d_scheduler is not None:
            opts.d_scheduler.step(metrics["d_val_loss"])
        history.append(_history_row(epoch + 1, means, metrics, lrs, time.perf_counter() - tic))
        if writer:
            with signals.deferred():  # a stop signal waits until the epoch is kept
                _keep_epoch(folder, config, history, metrics, nets, opts, batches)
    if bar is not None:
        bar.close()
    if writer:
        with signals.deferred():
            save_checkpoint(
                {"config": config.to_dict(), "nets": {name: net.state_dict() for name, net in nets.items()}},
                folder / runs.FINAL,
            )
            atomic_write_text(folder / runs.DONE, f"{len(history)} epochs\n")
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return folder


def _process_group(config: Config, world: int, local_rank: int) -> torch.device:
    """The device this process trains on; under torchrun also the process group (gloo or nccl).

    Raises:
        ConfigError: the global batch does not divide into the processes.
    """
    device = resolve_device(config.train.device)
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
    return device


def _patches(config: Config, method: Method, volumes: dict[str, list[Any]], *, rank: int,
             world: int) -> tuple[AugmentedBatches, PatchBatch]:
    """The training batches (balanced over sites, bias-field augmented with p = ``data.bias_augment``,
    this rank's share) and the fixed validation patches (``data.val_patches_per_site`` a site)."""
    from deepnorm.data.prepared import AugmentedBatches
    from deepnorm.sampling import PatchSampler

    seed = config.train.seed
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
    return batches, val


def _restore(path: Path, nets: Nets, opts: Optimizers, batches: AugmentedBatches,
             device: torch.device) -> list[dict[str, Any]]:
    """Load the checkpoint at `path` into the networks, optimizers, sampler and global RNG;
    returns the history of its finished epochs.

    Raises:
        RunError: the checkpoint lacks one of :data:`~deepnorm.training.runs.CHECKPOINT_KEYS` or a
            network, or its states do not fit this run (names the file and the fix).
    """
    state = load_checkpoint(path, map_location=device)
    fix = "it is not a checkpoint of this run: train again with force=True (--force)"
    missing = [k for k in runs.CHECKPOINT_KEYS if k not in state]
    if missing:
        raise RunError(f"checkpoint {path} has no {', '.join(missing)} (optimizer or sampler state); {fix}")
    for name, net in nets.items():
        if name not in state["nets"]:
            raise RunError(f"checkpoint {path} has no {name} weights; {fix}")
        runs.load_state(net, state["nets"][name], path, name, fix)
    try:
        opts.load_state_dict(state["optimizers"])
        batches.load_state_dict(state["batches"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise RunError(f"checkpoint {path}: its optimizer or sampler state does not fit ({err}); {fix}") from None
    if len(state["history"]) != int(state["epoch"]):
        raise RunError(f"checkpoint {path} holds {len(state['history'])} history rows for {state['epoch']} epochs; {fix}")
    set_rng_state(state["rng"])
    return list(state["history"])


def _start_fresh(folder: Path, config: Config, manifest: Manifest, splits: dict[str, Any], method: Method) -> None:
    """Empty the run folder of training files and write what a new run starts with: its
    configuration, run information, splits and (population methods) the fit."""
    runs.clear_run(folder)
    config.to_yaml(folder / runs.CONFIG)
    runs.write_run_info(folder, config, manifest)
    atomic_write_text(folder / runs.SPLITS, json.dumps(splits, indent=2) + "\n")
    if method.needs_fit:
        runs.write_fit(folder, method)


def _for_ranks(nets: Nets, world: int, device: torch.device) -> Nets:
    """The networks the iterations train: `nets` itself in one process; under torchrun G and S in
    DistributedDataParallel and D with gradient-averaging hooks (it is also called, frozen, inside
    the G/S step, where DDP would wait for gradients that never come; same arithmetic)."""
    if world <= 1:
        return nets
    from torch.nn.parallel import DistributedDataParallel as DDP

    def wrap(net: torch.nn.Module) -> torch.nn.Module:
        return DDP(net, device_ids=[device] if device.type == "cuda" else None)

    if nets.discriminator is not None:
        average_gradients_over_ranks(nets.discriminator, world)
    return Nets(None if nets.generator is None else wrap(nets.generator), wrap(nets.segmenter), nets.discriminator)


def _one_epoch(method: Method, nets: Nets, opts: Optimizers, batches: AugmentedBatches, n_iter: int, *, amp: bool,
               device: torch.device, bar: Any) -> tuple[dict[str, float], dict[str, float]]:
    """`n_iter` training iterations; returns the epoch's mean of each statistic (NaNs skipped) and
    the learning rates its last iteration trained with."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    lrs: dict[str, float] = {}
    for _ in range(n_iter):
        lrs = opts.lrs()
        with autocast(amp, device):
            stats = method.train_iteration(nets, opts, batches)
        opts.gs_scheduler.step()  # the milestones are iterations (fractions of the run)
        for key, value in stats.items():
            if not math.isnan(value):
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
        if bar is not None:
            bar.update(1)
    return {k: sums[k] / counts[k] for k in sums}, lrs


#: history columns from the epoch's training means and from its validation
_TRAIN_COLUMNS = ("loss", "seg_loss", "adversarial", "d_loss", "d_accuracy", "d_accuracy_real", "d_accuracy_generated")
_VAL_COLUMNS = ("val_seg_loss", "val_dice", "d_val_loss", "d_val_accuracy", "d_val_accuracy_real",
                "d_val_accuracy_generated")


def _history_row(epoch: int, means: dict[str, float], metrics: dict[str, Any], lrs: dict[str, float],
                 seconds: float) -> dict[str, Any]:
    """One row of ``history.csv`` (:data:`~deepnorm.training.runs.HISTORY_FIELDS`); NaN where the
    method has no such number (no D, no G)."""
    return {
        "epoch": epoch,
        **{k: means.get(k, math.nan) for k in _TRAIN_COLUMNS},
        **{k: metrics.get(k, math.nan) for k in _VAL_COLUMNS},
        "lr_gs": lrs["lr_gs"],
        "lr_d": lrs.get("lr_d", math.nan),
        "seconds": seconds,
    }


def _keep_epoch(folder: Path, config: Config, history: list[dict[str, Any]], metrics: dict[str, Any], nets: Nets,
                opts: Optimizers, batches: AugmentedBatches) -> None:
    """Write the history, D's confusion matrix and the checkpoint of the epoch just finished."""
    write_history(history, folder / runs.HISTORY)
    epoch = len(history)
    if "confusion" in metrics:
        labels = [*config.data.sites, "generated"]
        text = json.dumps({"epoch": epoch, "labels": labels, "matrix": metrics["confusion"]}, indent=1)
        atomic_write_text(folder / runs.CONFUSION_DIR / f"epoch-{epoch:03d}.json", text + "\n")
        atomic_write_text(folder / runs.CONFUSION, text + "\n")
    save_checkpoint(
        {
            "epoch": epoch,
            "nets": {name: net.state_dict() for name, net in nets.items()},
            "optimizers": opts.state_dict(),
            "batches": batches.state_dict(),
            "history": history,
            "rng": rng_state(),
        },
        folder / runs.CHECKPOINT,
    )
