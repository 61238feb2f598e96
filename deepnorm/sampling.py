"""Training patches: cubes centred on foreground voxels, drawn without replacement (Sec. 2.3).

The paper trains on 32^3 patches "centred on foreground voxels"; the authors' code keeps the
voxels of a grid of stride 4 whose label is > 0. :class:`PatchSampler` does the same, seeded:

* candidate centres are the voxels ``(x, y, z)`` with ``x, y, z`` multiples of ``grid`` and
  ``label > 0``;
* a patch of size ``p`` centred on ``c`` covers voxels ``c - p//2 .. c - p//2 + p - 1`` along
  each axis (the centre is voxel ``p//2`` of the patch); parts outside the volume read as 0
  (image) and BG (label), so every foreground centre is valid, even at the border;
* candidates are visited in a random permutation; when all have been used, a fresh
  permutation starts (an "epoch" of the pool). Permutation ``e`` of pool ``k`` is a pure
  function of ``(seed, k, e)``, so the sampler state is a few integers;
* with ``balance=True`` there is one pool per domain and each batch takes the same number of
  patches from every domain (the discriminator sees all domains equally often); otherwise all
  volumes form one pool.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

import numpy as np
import torch

from deepnorm.data.volume import int_triple
from deepnorm.errors import ConfigError, DataError


@dataclass(frozen=True)
class PatchBatch:
    """A batch of training patches.

    Attributes:
        images: float32 tensor (N, C, p, p, p).
        labels: int64 tensor (N, p, p, p), values 0..3 (BG/CSF/GM/WM).
        domains: int64 tensor (N,), the domain index z of each patch's volume.
        volumes: int64 tensor (N,), index of the source volume in the sampler (None if unknown).
        centres: int64 tensor (N, 3), centre voxel (x, y, z) in the source volume (None if unknown).
        clean: float32 tensor (N, C, p, p, p), the same patches before any augmentation (None
            when `images` are not augmented): the real patches the discriminator sees.
    """

    images: torch.Tensor
    labels: torch.Tensor
    domains: torch.Tensor
    volumes: torch.Tensor | None = None
    centres: torch.Tensor | None = None
    clean: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: str | torch.device) -> PatchBatch:
        """The same batch with every tensor moved to `device`."""
        return PatchBatch(self.images.to(device), self.labels.to(device), self.domains.to(device),
                          _moved(self.volumes, device), _moved(self.centres, device), _moved(self.clean, device))


def _moved(tensor: torch.Tensor | None, device: str | torch.device) -> torch.Tensor | None:
    return None if tensor is None else tensor.to(device)


def extract_patch(array: np.ndarray, centre: Sequence[int], size: int, fill: float = 0) -> np.ndarray:
    """The cube of `size` voxels centred on `centre` from the last three axes of `array`.

    The patch covers ``centre - size//2 .. centre - size//2 + size - 1`` (voxels) along each
    axis; voxels outside `array` are `fill`. Leading axes (channels) are kept:
    (..., X, Y, Z) -> (..., size, size, size).
    """
    spatial = array.shape[-3:]
    out = np.full(array.shape[:-3] + (size,) * 3, fill, dtype=array.dtype)
    src: list[slice] = []
    dst: list[slice] = []
    for c, n in zip(centre, spatial):
        start = int(c) - size // 2
        lo, hi = max(start, 0), min(start + size, n)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - start, hi - start))
    source: tuple[EllipsisType | slice, ...] = (..., *src)
    target: tuple[EllipsisType | slice, ...] = (..., *dst)
    out[target] = array[source]
    return out


class PatchSampler:
    """Seeded sampler of patches centred on foreground voxels, without replacement.

    Args:
        images: one float array (C, X, Y, Z) per volume; C equal for all volumes.
        labels: one integer array (X, Y, Z) per volume (0 = background).
        patch_size: edge of the cubic patch, voxels.
        domains: domain index z of each volume (same length as `images`).
        seed: seed of every permutation; same seed -> same batches.
        grid: stride (voxels) of the grid of candidate centres (4 in the authors' code).
        balance: one pool per domain, each batch split equally between domains.

    Raises:
        DataError: shapes disagree, or a volume has no foreground voxel on the grid.
        ConfigError: bad `patch_size`, `grid` or `domains`.

    Example:
        >>> import numpy as np
        >>> lab = np.zeros((8, 8, 8), np.int64); lab[2:6, 2:6, 2:6] = 1
        >>> s = PatchSampler([np.ones((1, 8, 8, 8), np.float32)], [lab], 4, domains=[0], grid=1)
        >>> s.n_candidates, tuple(s.sample(3).images.shape)
        (64, (3, 1, 4, 4, 4))
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        labels: Sequence[np.ndarray],
        patch_size: int,
        *,
        domains: Sequence[int],
        seed: int = 0,
        grid: int = 4,
        balance: bool = False,
    ) -> None:
        if len(images) == 0:
            raise DataError("PatchSampler got no volumes: pass at least one image (C, X, Y, Z) and its labels.")
        if len(images) != len(labels) or len(images) != len(domains):
            raise DataError(
                f"PatchSampler got {len(images)} images, {len(labels)} label maps and {len(domains)} domains: "
                "pass one label map and one domain index per image."
            )
        if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
            raise ConfigError(f"patch_size must be a positive integer (voxels), got {patch_size!r}.")
        if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 1:
            raise ConfigError(f"grid must be a positive integer (voxels), got {grid!r}.")
        self.patch_size = int(patch_size)
        self.grid = int(grid)
        self.seed = int(seed)
        self.balance = bool(balance)
        self._images: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        channels = None
        for i, (img, lab) in enumerate(zip(images, labels)):
            img, lab = np.asarray(img), np.asarray(lab)
            if img.ndim != 4:
                raise DataError(
                    f"image {i} has shape {img.shape}; expected (C, X, Y, Z): add a channel axis (image[None])."
                )
            if lab.shape != img.shape[1:]:
                raise DataError(f"labels {i} have shape {lab.shape} but image {i} is {img.shape[1:]}: they must match.")
            if channels is not None and img.shape[0] != channels:
                raise DataError(f"image {i} has {img.shape[0]} channels, image 0 has {channels}: use the same modalities.")
            channels = img.shape[0]
            self._images.append(img)
            self._labels.append(lab)
        try:
            self.domains = tuple(int(d) for d in domains)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"domains must be integers, got {list(domains)!r}.") from err
        if min(self.domains) < 0:
            raise ConfigError(f"domains must be >= 0, got {list(self.domains)}.")

        # per volume: flat indices (into the volume) of the candidate centres
        self._candidates: list[np.ndarray] = []
        for i, lab in enumerate(self._labels):
            g = self.grid
            sub = np.argwhere(lab[::g, ::g, ::g] > 0) * g
            if len(sub) == 0:
                raise DataError(
                    f"volume {i} has no foreground voxel (label > 0) on the grid of stride {g}: "
                    "check its labels, or lower `grid`."
                )
            self._candidates.append(np.asarray(np.ravel_multi_index(sub.T, lab.shape), dtype=np.int64))

        # pools: lists of volume indices; one per domain (sorted) when balancing, else one
        if self.balance:
            self.pool_domains = tuple(sorted(set(self.domains)))
            pools = [[v for v, d in enumerate(self.domains) if d == dom] for dom in self.pool_domains]
        else:
            self.pool_domains = ()
            pools = [list(range(len(self._images)))]
        self._pools = pools
        # cumulative candidate counts per pool, to map a pool index to (volume, candidate)
        self._pool_offsets = [np.cumsum([0] + [len(self._candidates[v]) for v in pool]) for pool in pools]
        self._epoch = [0] * len(pools)
        self._position = [0] * len(pools)
        self._extra = 0  # rotates which domains take the remainder of an unevenly split batch
        self._perm_cache: dict[int, tuple[int, np.ndarray]] = {}

    # ------------------------------------------------------------------ properties
    def volume_shape(self, index: int) -> tuple[int, int, int]:
        """Spatial shape (X, Y, Z) in voxels of volume `index` of the sampler."""
        return int_triple(self._images[index].shape[-3:])

    @property
    def n_candidates(self) -> int:
        """Number of candidate centres over all volumes."""
        return int(sum(len(c) for c in self._candidates))

    @property
    def n_volumes(self) -> int:
        """Number of volumes."""
        return len(self._images)

    @property
    def n_channels(self) -> int:
        """Number of image channels C."""
        return int(self._images[0].shape[0])

    def pool_sizes(self) -> list[int]:
        """Candidates per pool (per domain in `pool_domains` order when balanced, else one pool)."""
        return [int(off[-1]) for off in self._pool_offsets]

    # ------------------------------------------------------------------ drawing
    def _permutation(self, pool: int) -> np.ndarray:
        epoch = self._epoch[pool]
        cached = self._perm_cache.get(pool)
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, pool, epoch])
            cached = (epoch, rng.permutation(int(self._pool_offsets[pool][-1])))
            self._perm_cache[pool] = cached
        return cached[1]

    def _draw(self, pool: int, n: int) -> np.ndarray:
        """Next `n` pool indices of `pool`, moving to a new permutation when one is used up."""
        out = []
        while n > 0:
            perm = self._permutation(pool)
            take = min(n, len(perm) - self._position[pool])
            out.append(perm[self._position[pool] : self._position[pool] + take])
            self._position[pool] += take
            n -= take
            if self._position[pool] == len(perm):
                self._epoch[pool] += 1
                self._position[pool] = 0
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def _locate(self, pool: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(volume index, centre (n, 3)) of pool indices `idx`."""
        offsets = self._pool_offsets[pool]
        slot = np.searchsorted(offsets, idx, side="right") - 1
        vols = np.asarray(self._pools[pool], dtype=np.int64)[slot]
        centres = np.empty((len(idx), 3), dtype=np.int64)
        for k, (v, s, i) in enumerate(zip(vols, slot, idx)):
            flat = self._candidates[v][i - offsets[s]]
            centres[k] = np.unravel_index(flat, self._labels[v].shape)
        return vols, centres

    def sample_centres(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw the next `n` centres: (volume indices (n,), centres (n, 3) in voxels).

        Advances the sampler exactly as :meth:`sample` does.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ConfigError(f"the number of patches must be a non-negative integer, got {n!r}.")
        n = int(n)
        if not self.balance:
            return self._locate(0, self._draw(0, n))
        k = len(self._pools)
        counts = [n // k] * k
        for j in range(n % k):
            counts[(self._extra + j) % k] += 1
        self._extra = (self._extra + n % k) % k
        vols, centres = [], []
        for pool, c in enumerate(counts):
            v, ce = self._locate(pool, self._draw(pool, c))
            vols.append(v)
            centres.append(ce)
        return np.concatenate(vols), np.concatenate(centres)

    def sample(self, n: int) -> PatchBatch:
        """The next batch of `n` patches (images (n, C, p, p, p), labels (n, p, p, p))."""
        vols, centres = self.sample_centres(n)
        p = self.patch_size
        images = np.zeros((len(vols), self.n_channels, p, p, p), dtype=np.float32)
        labels = np.zeros((len(vols), p, p, p), dtype=np.int64)
        for k, (v, c) in enumerate(zip(vols, centres)):
            images[k] = extract_patch(self._images[v], c, p)
            labels[k] = extract_patch(self._labels[v], c, p)
        domains = np.asarray([self.domains[v] for v in vols], dtype=np.int64)
        return PatchBatch(
            images=torch.from_numpy(images),
            labels=torch.from_numpy(labels),
            domains=torch.from_numpy(domains),
            volumes=torch.from_numpy(np.asarray(vols, dtype=np.int64)),
            centres=torch.from_numpy(centres),
        )

    def batches(self, batch_size: int, n_batches: int | None = None) -> Iterator[PatchBatch]:
        """Yield `n_batches` batches of `batch_size` patches (forever when `n_batches` is None)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if n_batches is not None and n_batches < 0:
            raise ConfigError(f"n_batches must be >= 0 or None, got {n_batches!r}.")
        done = 0
        while n_batches is None or done < n_batches:
            yield self.sample(batch_size)
            done += 1

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """The position in the sequence of patches (plain ints; JSON-serializable)."""
        return {
            "seed": self.seed,
            "grid": self.grid,
            "patch_size": self.patch_size,
            "balance": self.balance,
            "pool_sizes": self.pool_sizes(),
            "epoch": list(self._epoch),
            "position": list(self._position),
            "extra": self._extra,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the sequence saved by :meth:`state_dict` (same volumes and settings required)."""
        for key in ("seed", "grid", "patch_size", "balance", "pool_sizes"):
            mine = self.state_dict()[key]
            if key not in state:
                raise ConfigError(f"sampler state lacks '{key}': pass a dict made by PatchSampler.state_dict().")
            if state[key] != mine:
                raise ConfigError(
                    f"sampler state has {key}={state[key]!r} but this sampler has {mine!r}: "
                    "build the sampler from the same volumes and settings before resuming."
                )
        self._epoch = [int(e) for e in state["epoch"]]
        self._position = [int(p) for p in state["position"]]
        self._extra = int(state["extra"])
        self._perm_cache.clear()
