"""Classical MRI intensity normalizers, then S: ``nyul``, ``whitestripe``, ``fcm``, ``kde`` (beyond the paper).

The paper compares its normalizer with a z-score only (Table 3). These four baselines come from
the ``intensity-normalization`` library (J. C. Reinhold, version 3.0.1), called through its
public classes on each prepared volume before patches are drawn (training) or windows slide
(evaluation); the segmenter S that follows is the same as for every other method.

- ``nyul`` (Nyúl & Udupa, IEEE TMI 2000): piecewise-linear histogram matching. A *population*
  method: :meth:`Nyul.fit` learns one standard scale per channel, with ``NyulNormalizer`` and
  its default landmarks (percentiles 1, 10, 20, ..., 90, 99 of the brain, mapped onto
  [1, 100]), from the training subjects of every site; the fit is saved in the run folder
  (``fit.json``, :mod:`deepnorm.training.runs`) and every volume (train, validation, test,
  applied later) is mapped with it.
- ``whitestripe`` (Shinohara et al., NeuroImage Clin. 2014): per volume and channel, the
  z-score of the "white stripe", the voxels within 5 % (quantiles) of the white-matter mode.
- ``fcm``: per volume, fuzzy c-means (3 classes) on the T1 brain; every channel is divided by
  its mean over the white matter weighted by the T1 WM membership (``FCMNormalizer.fit`` on
  T1, then ``transform`` of each channel, the library's way to normalize other contrasts with
  the T1 segmentation). The WM membership-weighted mean becomes 1.
- ``kde``: per volume and channel, division by the white-matter mode of a kernel density
  estimate of the brain intensities: the WM peak becomes 1.

Modalities. deepnorm's channel keys (``config.data.modalities``) map onto the library's
:data:`LIBRARY_MODALITY`: "t1" is T1 (the WM mode is the last peak), "t2" is T2 — the key holds
T2 for iSEG and T2-FLAIR for MRBrainS13, which the library's WhiteStripe and KDE treat alike
(the mode of the largest peak).

Background. Each method is a monotone map of intensity fitted on the brain (``mask``; without
one, the voxels where some channel is > 0) and applied to the whole volume, as the library
does: the background (0 in prepared volumes) takes the value of intensity 0, which is 0 for
``fcm`` and ``kde`` (a division), ``-mean / sd`` of the stripe for ``whitestripe`` and the
linear extrapolation of the first Nyúl segment for ``nyul``: finite, and never above a brain
voxel (the maps increase and prepared intensities are >= 0).

Scale. Prepared volumes are in [0, 1] on the brain (:mod:`deepnorm.data.preprocess`), which the
library's KDE needs: its bandwidth factor is ``max / 80`` times the intensities' standard
deviation, not scale free (at scanner scale, max in the hundreds, it smooths the histogram into
one peak). FCM's random initialisation draws from numpy's global generator: it is seeded with
``config.train.seed`` and the generator's state restored afterwards, so the output is
deterministic and the training's random streams are not disturbed.

>>> from deepnorm.training.config import profile
>>> Nyul(profile("smoke", **{"train.method": "nyul"})).needs_fit
True
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepnorm.errors import DataError, DeepnormError, RunError
from deepnorm.training.config import Config
from deepnorm.training.methods.base import Method

#: Library modality (``intensity_normalization.Modality`` value) of each deepnorm channel key.
LIBRARY_MODALITY: dict[str, str] = {"t1": "t1", "t2": "t2"}
#: The library release these baselines were written against (``fit.json`` records it).
LIBRARY_VERSION = "3.0.1"

#: A volume as the methods take it: (C, X, Y, Z) float32 image and (X, Y, Z) bool brain mask or None.
ImageMask = tuple[np.ndarray, "np.ndarray | None"]


# --------------------------------------------------------------------------- shared checks
def _brain(image: np.ndarray, mask: np.ndarray | None, channels: Sequence[str], what: str) -> tuple[np.ndarray, np.ndarray]:
    """(image (C, X, Y, Z) float32, brain (X, Y, Z) bool), checked against `channels`."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 4 or image.shape[0] != len(channels):
        raise DataError(f"{what}: image of shape {image.shape}; expected (C={len(channels)}, X, Y, Z) with channels "
                        f"{', '.join(channels)}")
    if mask is None:
        brain = np.any(image > 0, axis=0)
    else:
        brain = np.asarray(mask, dtype=bool)
        if brain.shape != image.shape[1:]:
            raise DataError(f"{what}: mask of shape {brain.shape} does not match the image {image.shape[1:]}; "
                            "pass the brain mask of this image")
    if not brain.any():
        raise DataError(f"{what}: the brain mask is empty (no voxel > 0 without a mask); pass the image's brain mask")
    return image, brain


@contextlib.contextmanager
def _library_errors(what: str, channel: str, check: str) -> Iterator[None]:
    """Turn the library's (and its numerics') errors into a DataError naming the channel and what to check."""
    from intensity_normalization.domain.exceptions import IntensityNormalizationError

    try:
        yield
    except DeepnormError:
        raise
    except (IntensityNormalizationError, ValueError, ArithmeticError, IndexError, np.linalg.LinAlgError) as err:
        raise DataError(f"{what}: intensity-normalization failed on channel {channel!r} ({err}); {check}") from err


def _finite(out: np.ndarray, what: str, channel: str, check: str) -> np.ndarray:
    """`out` as float32, or a DataError when it holds NaN or infinity."""
    out = np.asarray(out, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise DataError(f"{what}: channel {channel!r} came out with non-finite values; {check}")
    return out


def _per_channel(what: str, image: np.ndarray, channels: Sequence[str], check: str,
                 map_channel: Callable[[np.ndarray, str], np.ndarray]) -> np.ndarray:
    """(C, X, Y, Z) float32: ``map_channel(image[c], name)`` for each channel, the library's errors
    and non-finite outputs turned into one :class:`~deepnorm.errors.DataError` naming the channel and `check`."""
    out = np.empty(image.shape, dtype=np.float32)
    for c, name in enumerate(channels):
        with _library_errors(what, name, check):
            mapped = map_channel(image[c], name)
        out[c] = _finite(mapped, what, name, check)
    return out


def _image(array: np.ndarray) -> Any:
    """The library's image object around a numpy array."""
    from intensity_normalization import create_image

    return create_image(np.asarray(array, dtype=np.float32))


def _modality(channel: str) -> Any:
    """The library's Modality of a deepnorm channel key."""
    from intensity_normalization import Modality

    if channel not in LIBRARY_MODALITY:
        raise DataError(f"channel {channel!r} has no library modality; expected one of {', '.join(LIBRARY_MODALITY)}")
    return Modality(LIBRARY_MODALITY[channel])


# --------------------------------------------------------------------------- Nyúl
_NYUL_CHECK = ("check that the brain mask covers the brain only and that the channel is not constant there "
               "(tied percentile landmarks)")


@dataclass(frozen=True)
class NyulFit:
    """A fitted Nyúl standard scale: per channel, the intensities its landmarks map to.

    Attributes:
        channels: channel keys, in image order.
        percentiles: landmark percentiles (in %) of the brain intensities, increasing.
        standard_scales: per channel, the standard-scale value of each landmark (same length).
        n_volumes: training volumes it was fitted on.
    """

    channels: tuple[str, ...]
    percentiles: tuple[float, ...]
    standard_scales: tuple[tuple[float, ...], ...]
    n_volumes: int

    def __post_init__(self) -> None:
        if len(self.standard_scales) != len(self.channels):
            raise DataError(f"NyulFit: {len(self.standard_scales)} scales for channels {self.channels}")
        for name, scale in zip(self.channels, self.standard_scales):
            if len(scale) != len(self.percentiles) or not all(np.isfinite(scale)):
                raise DataError(f"NyulFit: the scale of channel {name!r} has {len(scale)} finite values, expected "
                                f"{len(self.percentiles)} (one per landmark)")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the content of ``fit.json``'s state)."""
        return {"library": f"intensity-normalization {LIBRARY_VERSION}", "n_volumes": self.n_volumes,
                "percentiles": list(self.percentiles),
                "channels": {name: list(scale) for name, scale in zip(self.channels, self.standard_scales)}}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> NyulFit:
        """The fit :meth:`to_dict` wrote; DataError when a field is missing or malformed."""
        try:
            channels = dict(state["channels"])
            return cls(tuple(channels), tuple(float(p) for p in state["percentiles"]),
                       tuple(tuple(float(v) for v in scale) for scale in channels.values()), int(state["n_volumes"]))
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, DataError):
                raise
            raise DataError(f"NyulFit: malformed state ({type(err).__name__}: {err})") from None

    def normalizer(self, channel: str) -> Any:
        """The library's fitted ``NyulNormalizer`` of `channel`."""
        from intensity_normalization import NyulNormalizer

        if channel not in self.channels:
            raise DataError(f"nyul: the fit has channels {', '.join(self.channels)}, not {channel!r}; "
                            "apply the run to images of its own modalities")
        normalizer = NyulNormalizer()
        table = np.vstack([self.standard_scales[self.channels.index(channel)], self.percentiles])
        buffer = io.BytesIO()
        np.save(buffer, table)  # the library's own save format, loaded by its public loader
        buffer.seek(0)
        normalizer.load_standard_histogram(buffer)  # type: ignore[arg-type]  # typed as a path; its np.load reads a file too
        return normalizer


def fit_nyul(volumes: Sequence[ImageMask], channels: Sequence[str]) -> NyulFit:
    """Fit one Nyúl standard scale per channel on `volumes` ((C, X, Y, Z) image, (X, Y, Z) mask or None).

    Landmarks are taken on each volume's brain (its mask; without one, where a channel is > 0).
    """
    from intensity_normalization import NyulNormalizer

    if not volumes:
        raise DataError("nyul: no training volumes to fit the standard scale on; check the training split")
    checked = [_brain(image, mask, channels, f"nyul (training volume {i})") for i, (image, mask) in enumerate(volumes)]
    percentiles: tuple[float, ...] = ()
    scales = []
    for c, name in enumerate(channels):
        normalizer = NyulNormalizer()
        with _library_errors("nyul", name, _NYUL_CHECK + " in every training volume"):
            normalizer.fit_population([_image(image[c]) for image, _ in checked], [_image(brain) for _, brain in checked])
        assert normalizer.standard_scale is not None, "fit_population sets the standard scale"
        percentiles = tuple(float(p) for p in normalizer.percentiles)
        scales.append(tuple(float(v) for v in normalizer.standard_scale))
    return NyulFit(tuple(channels), percentiles, tuple(scales), len(volumes))


def nyul_volume(fit: NyulFit, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(C, X, Y, Z) float32: each channel mapped onto `fit`'s standard scale (landmarks of its brain)."""
    image, brain = _brain(image, mask, fit.channels, "nyul")

    def mapped(channel: np.ndarray, name: str) -> np.ndarray:
        return fit.normalizer(name).transform(_image(channel), _image(brain)).get_data()

    return _per_channel("nyul", image, fit.channels, _NYUL_CHECK, mapped)


# --------------------------------------------------------------------------- per-volume methods
_WM_CHECK = ("check that the brain mask covers the brain and that the channel shows its tissues "
             "(white matter, grey matter, CSF) with distinct intensities")


def whitestripe_volume(image: np.ndarray, mask: np.ndarray | None, channels: Sequence[str]) -> np.ndarray:
    """(C, X, Y, Z) float32: each channel z-scored on its white stripe (library defaults, width 0.05)."""
    from intensity_normalization import WhiteStripeNormalizer

    image, brain = _brain(image, mask, channels, "whitestripe")

    def mapped(channel: np.ndarray, name: str) -> np.ndarray:
        normalizer = WhiteStripeNormalizer(modality=_modality(name)).fit(_image(channel), _image(brain))
        return normalizer.transform(_image(channel)).get_data()

    return _per_channel("whitestripe", image, channels, _WM_CHECK, mapped)


def fcm_volume(image: np.ndarray, mask: np.ndarray | None, channels: Sequence[str], *, seed: int = 0) -> np.ndarray:
    """(C, X, Y, Z) float32: each channel divided by its mean over the T1 white matter (FCM membership weights).

    The membership comes from fuzzy c-means (3 classes, library defaults) on the T1 channel's
    brain, initialised from numpy's global generator seeded with `seed` (its state is restored).
    """
    from intensity_normalization import FCMNormalizer, TissueType

    image, brain = _brain(image, mask, channels, "fcm")
    if "t1" not in channels:
        raise DataError(f"fcm: channels {', '.join(channels)} have no T1 to find the white matter on; include 't1'")
    t1 = list(channels).index("t1")
    normalizer = FCMNormalizer(tissue_type=TissueType.WM)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        with _library_errors("fcm", "t1", _WM_CHECK):
            normalizer.fit(_image(image[t1]), _image(brain))
    finally:
        np.random.set_state(state)
    return _per_channel("fcm", image, channels, _WM_CHECK, lambda channel, _: normalizer.transform(_image(channel)).get_data())


def kde_volume(image: np.ndarray, mask: np.ndarray | None, channels: Sequence[str]) -> np.ndarray:
    """(C, X, Y, Z) float32: each channel divided by its white-matter KDE mode (expects [0, 1] intensities)."""
    from intensity_normalization import KDENormalizer

    image, brain = _brain(image, mask, channels, "kde")

    def mapped(channel: np.ndarray, name: str) -> np.ndarray:
        normalizer = KDENormalizer(modality=_modality(name)).fit(_image(channel), _image(brain))
        mode = normalizer.tissue_mode
        if mode is None or not mode > 0:
            raise DataError(f"kde: the white-matter mode of channel {name!r} is {normalizer.tissue_mode}; {_WM_CHECK}")
        return normalizer.transform(_image(channel)).get_data()

    return _per_channel("kde", image, channels, _WM_CHECK, mapped)


# --------------------------------------------------------------------------- methods
class Nyul(Method):
    """Nyúl–Udupa histogram matching (fitted on the training subjects of every site), then S."""

    name = "nyul"
    needs_fit = True

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.fitted: NyulFit | None = None

    def fit(self, volumes: Sequence[ImageMask]) -> None:
        """Learn the standard scale of each channel from the training `volumes` ((C, X, Y, Z), mask)."""
        self.fitted = fit_nyul(volumes, self.config.data.modalities)

    def fit_state(self) -> dict[str, Any]:
        """The fitted standard scale as a JSON-ready dict."""
        return self._fit().to_dict()

    def load_fit(self, state: dict[str, Any]) -> None:
        """Restore the standard scale :meth:`fit_state` returned (DataError when it does not fit the config)."""
        fitted = NyulFit.from_dict(state)
        if fitted.channels != self.config.data.modalities:
            raise DataError(f"the Nyúl fit has channels {', '.join(fitted.channels)}, the configuration "
                            f"{', '.join(self.config.data.modalities)}")
        self.fitted = fitted

    def _fit(self) -> NyulFit:
        if self.fitted is None:
            raise RunError("nyul has no standard scale: fit it on the training volumes (Method.fit), or load the run "
                           "folder's fit.json (deepnorm.training.runs.load_run)")
        return self.fitted

    def prepare_volume(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """(C, X, Y, Z) float32 on the fitted standard scale (1 to 100 from the 1st to the 99th brain percentile)."""
        return nyul_volume(self._fit(), image, mask)


class WhiteStripe(Method):
    """WhiteStripe per volume and channel, then S."""

    name = "whitestripe"

    def prepare_volume(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """(C, X, Y, Z) float32, each channel's white stripe at mean 0 and standard deviation 1."""
        return whitestripe_volume(image, mask, self.config.data.modalities)


class FCM(Method):
    """FCM white-matter normalization per volume, then S."""

    name = "fcm"

    def prepare_volume(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """(C, X, Y, Z) float32, each channel's T1-WM membership-weighted mean at 1."""
        return fcm_volume(image, mask, self.config.data.modalities, seed=self.config.train.seed)


class KDE(Method):
    """KDE white-matter peak normalization per volume, then S."""

    name = "kde"

    def prepare_volume(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """(C, X, Y, Z) float32, each channel's white-matter KDE mode at 1."""
        return kde_volume(image, mask, self.config.data.modalities)
