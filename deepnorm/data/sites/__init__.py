"""The three data sets, one file each, and the registry that orders them.

Each site's file holds everything that site is (layout and file names, label code table,
modalities, scanner rule, split fractions, phantom model) in its ``SITE`` (a :class:`Site`):

- :mod:`deepnorm.data.sites.iseg`: iSEG-2017, ``<root>/iSEG-2017/iSeg-2017-Training/...``
- :mod:`deepnorm.data.sites.mrbrains`: MRBrainS13, ``<root>/MRBrainS13/TrainingData/...``
- :mod:`deepnorm.data.sites.abide`: ABIDE I FreeSurfer outputs, ``<root>/ABIDE/<SITE>_<id>/mri/...``

Every loader returns Subjects with labels 0 BG, 1 CSF, 2 GM, 3 WM (np.int64) and modality keys
"t1"/"t2" (MRBrainS's "t2" is its T2-FLAIR). ``subject_ids`` is sorted with numbers in numeric
order ("2" before "10"). A subject exists when its T1 file exists; its other files are checked
on load, including that all of them share one voxel grid (shape and affine).
"""

from __future__ import annotations

import os

from deepnorm.data.sites import abide, iseg, mrbrains
from deepnorm.data.sites.abide import ABIDE
from deepnorm.data.sites.base import Site, SiteLoader
from deepnorm.data.sites.iseg import ISeg2017
from deepnorm.data.sites.mrbrains import MRBrainS13
from deepnorm.errors import ConfigError, DataError

_ORDERED: tuple[Site, ...] = (iseg.SITE, mrbrains.SITE, abide.SITE)

#: Site keys, in the fixed order that gives each site its domain index z = 0..K-1.
SITES: tuple[str, ...] = tuple(s.key for s in _ORDERED)
#: Site key -> display name.
SITE_NAMES: dict[str, str] = {s.key: s.name for s in _ORDERED}
_BY_KEY: dict[str, Site] = {s.key: s for s in _ORDERED}

__all__ = [
    "ABIDE",
    "SITES",
    "SITE_NAMES",
    "ISeg2017",
    "MRBrainS13",
    "Site",
    "SiteLoader",
    "available_sites",
    "get_site",
    "open_site",
]


def get_site(site_key: str) -> Site:
    """The description of one site ("iseg", "mrbrains" or "abide"); ConfigError if unknown."""
    if site_key not in _BY_KEY:
        raise ConfigError(f"site={site_key!r}: unknown site; choose among {list(SITES)}")
    return _BY_KEY[site_key]


def open_site(root: str | os.PathLike, site_key: str) -> SiteLoader:
    """The loader of one site ("iseg", "mrbrains" or "abide") under the data root `root`."""
    return get_site(site_key).loader(root)


def available_sites(root: str | os.PathLike) -> list[str]:
    """The site keys (in SITES order) whose folder exists under `root` with at least one subject."""
    found = []
    for key in SITES:
        try:
            open_site(root, key)
        except DataError:
            continue
        found.append(key)
    return found
