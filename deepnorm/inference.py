"""Whole-volume prediction from a patch network (Sec. 2.3: 32^3 patches, stride 8^3, averaged).

Along each axis of size ``n`` the patch starts are ``0, stride, 2*stride, ...`` while the patch
fits, plus ``n - p`` so that the last patch ends on the last voxel (the same grid as MONAI's
``sliding_window_inference`` with ``overlap = 1 - stride / p``). An axis shorter than the patch
is zero-padded to ``p`` (half before, half after, as MONAI does) and cropped back afterwards.
Each voxel's output is the mean of the predictions of every patch covering it: the paper's
"class probabilities averaged over the patches", not the authors' code's averaged argmax labels.
Sums stay on the predictor's device, batch after batch (no host round trip): float64 on the CPU,
so a predictor that returns its input gives the input back exactly, float32 on a GPU (see
`accumulation_dtype`). Patches are cut from the volume once it is on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import product

import numpy as np
import torch

from deepnorm.errors import ConfigError, DataError


def _triple(value: int | Sequence[int], name: str) -> tuple[int, int, int]:
    wrong = f"{name} must be an int or 3 ints (voxels), got {value!r}."
    if isinstance(value, bool):
        raise ConfigError(wrong)
    if isinstance(value, (int, np.integer)):
        out = (int(value),) * 3
    else:
        try:
            values = tuple(int(v) for v in value)
        except TypeError as err:
            raise ConfigError(wrong) from err
        if len(values) != 3:
            raise ConfigError(wrong)
        out = values
    if min(out) < 1:
        raise ConfigError(f"{name} must be positive (voxels), got {value!r}.")
    return out


def window_starts(size: int, patch: int, stride: int) -> list[int]:
    """Patch start indices (voxels) along one axis of `size` voxels (size >= patch).

    ``0, stride, 2*stride, ...`` while a patch fits, then ``size - patch`` if not yet included.
    """
    if size <= patch:
        return [0]
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def _pad_widths(shape: Sequence[int], patch: Sequence[int]) -> list[tuple[int, int]]:
    widths = []
    for n, p in zip(shape, patch):
        diff = max(p - n, 0)
        widths.append((diff // 2, diff - diff // 2))
    return widths


def accumulation_dtype(device: str | torch.device) -> torch.dtype:
    """The dtype of the sliding window's sums on `device`: float64 on the CPU, float32 elsewhere.

    On the CPU float64 sums cost little and give the input back exactly; a GPU sums in float32
    (its float64 units are slow), which differs by at most a few float32 ulps (< 1e-6 for
    probabilities).
    """
    return torch.float64 if torch.device(device).type == "cpu" else torch.float32


def sliding_window_predict(
    volume: np.ndarray,
    predictor: Callable[[torch.Tensor], torch.Tensor],
    *,
    patch_size: int | Sequence[int],
    stride: int | Sequence[int],
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: bool = False,
    amp: bool = False,
) -> np.ndarray:
    """Predict a whole volume patch by patch and average the overlapping predictions.

    Args:
        volume: image (C, X, Y, Z), any float dtype (voxels).
        predictor: maps a float32 tensor (N, C, p, p, p) on `device` to (N, K, p, p, p);
            called under ``torch.inference_mode()``. Put a network in ``eval()`` mode first, and
            apply softmax inside the predictor to average probabilities.
        patch_size: patch edge p (voxels), an int or one per axis.
        stride: step between patch starts (voxels), 1 <= stride <= patch_size per axis.
        batch_size: patches per predictor call.
        device: where the volume, the patches and the running sums live.
        progress: show a tqdm progress bar over the batches.
        amp: call the predictor under bf16 autocast on `device` (a run whose
            ``train.precision`` is bf16, or ``train.amp`` on CUDA); the running sums stay in
            :func:`accumulation_dtype`. Off, the results are bit for bit those of float32.

    Returns:
        float32 array (K, X, Y, Z): per voxel, the mean over all patches covering it.

    Raises:
        ConfigError: bad `patch_size`, `stride` or `batch_size`.
        DataError: `volume` is not 4D, or the predictor's output has the wrong shape.

    Example:
        >>> v = np.random.default_rng(0).random((1, 10, 9, 5), dtype=np.float32)
        >>> out = sliding_window_predict(v, lambda x: x, patch_size=4, stride=2)
        >>> bool((out == v).all())
        True
    """
    if isinstance(volume, torch.Tensor):
        volume = volume.detach().cpu().numpy()
    volume = np.asarray(volume)
    if volume.ndim != 4:
        raise DataError(
            f"volume has shape {volume.shape}; expected (C, X, Y, Z): add a channel axis (volume[None])."
        )
    patch = _triple(patch_size, "patch_size")
    step = _triple(stride, "stride")
    if any(s > p for s, p in zip(step, patch)):
        raise ConfigError(
            f"stride {step} is larger than patch_size {patch}: voxels between patches would get no "
            "prediction; use a stride <= patch_size."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}.")

    shape = volume.shape[1:]
    pads = _pad_widths(shape, patch)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(shape, pads))
    axes = [window_starts(n, p, s) for n, p, s in zip(padded, patch, step)]
    corners = list(product(axes[0], axes[1], axes[2]))
    device = torch.device(device)
    acc_dtype = accumulation_dtype(device)
    use_amp = bool(amp)
    image = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32)).to(device)
    image = torch.nn.functional.pad(image, [w for lo_hi in reversed(pads) for w in lo_hi])

    # how many patches cover each voxel: separable, the product of per-axis counts
    counts = []
    for n, p, starts in zip(padded, patch, axes):
        covered = torch.zeros(n, dtype=acc_dtype, device=device)
        for s in starts:
            covered[s : s + p] += 1
        counts.append(covered)
    count = counts[0][:, None, None] * counts[1][None, :, None] * counts[2][None, None, :]

    batches: Iterator[list[tuple[int, int, int]]] = (
        corners[i : i + batch_size] for i in range(0, len(corners), batch_size)
    )
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, total=(len(corners) + batch_size - 1) // batch_size, desc="sliding window")

    total: torch.Tensor | None = None
    with torch.inference_mode():
        for chunk in batches:
            x = torch.stack([image[:, a : a + patch[0], b : b + patch[1], c : c + patch[2]] for a, b, c in chunk])
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                out = predictor(x)
            if not isinstance(out, torch.Tensor) or out.ndim != 5 or tuple(out.shape[2:]) != patch \
                    or out.shape[0] != len(chunk):
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise DataError(
                    f"the predictor returned {got} for input {tuple(x.shape)}; it must return a tensor "
                    f"(N, K, {patch[0]}, {patch[1]}, {patch[2]}) of the same N and spatial size."
                )
            out = out.to(device, acc_dtype)
            if total is None:
                total = torch.zeros((out.shape[1], *padded), dtype=acc_dtype, device=device)
            elif out.shape[1] != total.shape[0]:
                raise DataError(
                    f"the predictor returned {out.shape[1]} channels after {total.shape[0]}: it must "
                    "return the same number of classes for every batch."
                )
            for (a, b, c), o in zip(chunk, out):
                total[:, a : a + patch[0], b : b + patch[1], c : c + patch[2]] += o
        assert total is not None
        total /= count
        crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, shape))
        return total[(slice(None), *crop)].to("cpu", torch.float32).numpy()
