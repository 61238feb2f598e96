"""The paper's experiments (Tables 2-7) as library calls; each notebook calls one of them.

Every function trains what it needs (or reuses a finished run with the same configuration),
evaluates on whole test volumes, writes its table to ``results/`` and returns the rows. The
evaluations are cached in each run folder (``<run>/eval/<key>.json``), so notebooks that share a
run (Tables 3, 4 and 6 share the dual-site "Ours" run) evaluate it once.

    ctx = Context(profile="cpu")
    rows = table2(ctx)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from deepnorm.data.sites import SITES
from deepnorm.errors import ConfigError
from deepnorm.evaluation import evaluate as ev
from deepnorm.files import atomic_write_text, write_json, write_table
from deepnorm.training.config import PAPER_METHODS, PROFILES, Config
from deepnorm.training.runs import EVAL_DIR

if TYPE_CHECKING:
    from deepnorm.data.preprocess import Prepared
    from deepnorm.training.runs import Run

T = TypeVar("T")

#: Site sets of Table 3: two sites ("dual") and three ("multi").
SETTINGS: dict[str, tuple[str, ...]] = {"dual": ("iseg", "mrbrains"), "multi": ("iseg", "mrbrains", "abide")}
#: The two data sets of Table 2.
CROSS_SITES: tuple[str, ...] = ("iseg", "mrbrains")
#: Methods of Table 3 in column order (the paper's only: not BEYOND_PAPER_METHODS).
NORMALIZERS: tuple[str, ...] = tuple(m for m in PAPER_METHODS if m != "segmenter")
#: λ values of Table 7.
LAMBDAS: tuple[float, ...] = (0.1, 1.5, 5.0)
#: Patches per site for the discriminator's confusion matrix.
CONFUSION_PATCHES = 64


@dataclass
class Context:
    """Where an experiment reads data and writes runs, tables and figures; the notebooks' parameters.

    Empty strings mean the defaults: the embedded phantom of `profile` (built on first use),
    ``runs/``, ``results/`` and ``figures/`` under the project root, and the profile's
    ``train.precision`` (else "float32", "bf16" or "auto": :mod:`deepnorm.precision`) and the
    profile's scale (else ``"WxE"``: every training's U-Net widths x W and epochs x E, a point of the
    scale study's grid, :mod:`deepnorm.study.scale`).
    """

    profile: str = "cpu"
    data_root: str = ""
    seed: int = 0
    device: str = "auto"
    results_dir: str = ""
    figures_dir: str = ""
    runs_dir: str = ""
    progress: bool = True
    precision: str = ""
    scale: str = ""
    _runs: dict[str, Run] = field(default_factory=dict, repr=False)
    _subjects: dict[tuple[object, ...], list[Prepared]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        from deepnorm import paths
        from deepnorm.data.roots import resolve_data_root

        if self.profile not in PROFILES:
            raise ConfigError(f"profile={self.profile!r}: use one of {', '.join(PROFILES)}")
        from deepnorm.study.scale import parse_scale

        parse_scale(self.scale)  # a wrong scale fails here, before any training
        self.results_dir = str(Path(self.results_dir or paths.results_dir()).resolve())
        self.figures_dir = str(Path(self.figures_dir or paths.figures_dir()).resolve())
        self.runs_dir = str(Path(self.runs_dir or paths.runs_dir()).resolve())
        self.data_root = str(resolve_data_root(self.data_root or None, profile=self.profile, seed=self.seed))

    @property
    def scale_factors(self) -> tuple[int, int]:
        """(width factor, epoch factor) of :attr:`scale`; (1, 1) when it is empty."""
        from deepnorm.study.scale import parse_scale

        return parse_scale(self.scale)

    def steps(self, items: Sequence[T], desc: str) -> Iterable[T]:
        """`items` with a progress bar named `desc` when the context shows progress (a notebook
        cell that runs for more than a few seconds), else `items` as they are."""
        if not self.progress:
            return items
        from tqdm.auto import tqdm

        return tqdm(items, desc=desc, leave=False)

    def figure(self, name: str) -> Path:
        """Path of figure `name` (PNG) in the figures folder; the profile prefixes non-cpu figures."""
        folder = Path(self.figures_dir)
        folder.mkdir(parents=True, exist_ok=True)
        prefix = "" if self.profile == "cpu" else f"{self.profile}_"
        return folder / f"{prefix}{name}.png"



def notebook_context(*, profile: str, data_root: str, seed: int, device: str, results_dir: str, figures_dir: str,
                     runs_dir: str, precision: str = "", scale: str = "") -> Context:
    """The Context of a notebook's `parameters` cell, and one line each on where it reads and writes.

    Empty `results_dir` / `figures_dir` mean the scratch folders (``results/notebooks/scratch/``,
    ignored by git): only ``deepnorm reproduce`` passes the committed ``results/`` and ``figures/``.
    """
    from deepnorm.study.reproduce import scratch_dir

    ctx = Context(profile=profile, data_root=data_root, seed=seed, device=device,
                  results_dir=results_dir or str(scratch_dir("results")),
                  figures_dir=figures_dir or str(scratch_dir("figures")), runs_dir=runs_dir, precision=precision,
                  scale=scale)
    print("data root:", ctx.data_root)
    if scale:
        print(f"scale: U-Net widths x{ctx.scale_factors[0]}, epochs x{ctx.scale_factors[1]} of the {profile} profile")
    print("tables:", ctx.results_dir)
    print("figures:", ctx.figures_dir)
    return ctx

# --------------------------------------------------------------------------- runs
#: Probability of a training patch's bias field (Eq. 7) in the robustness trainings of Table 6 and
#: Fig. 8 (paper Sec. 3.5: "we trained the method with 50 % of input images augmented"); every
#: other training has none (the profiles' ``data.bias_augment`` = 0).
ROBUSTNESS_AUGMENT = 0.5


def config_for(ctx: Context, method: str, sites: Sequence[str], *, modalities: Sequence[str] = ("t1",),
               lam: float | None = None, holdout_scanners: Sequence[str] = (),
               bias_augment: float | None = None, scale: tuple[int, int] | None = None) -> Config:
    """The profile's configuration for one training of `method` on `sites` (without the subjects of
    `holdout_scanners`, which all go to the test split; with `bias_augment`, the probability of a
    training patch's bias field, instead of the profile's), at the context's scale unless `scale`
    (width and epoch factors) is given."""
    from deepnorm.study.scale import scaled
    from deepnorm.training.config import profile as load_profile

    overrides: dict[str, Any] = {"train.method": method, "data.sites": tuple(sites), "data.modalities": tuple(modalities),
                                 "train.seed": ctx.seed, "train.device": ctx.device}
    if ctx.precision:
        overrides["train.precision"] = ctx.precision
    if lam is not None:
        overrides["train.lam"] = float(lam)
    if holdout_scanners:
        overrides["data.holdout_scanners"] = tuple(holdout_scanners)
    if bias_augment is not None:
        overrides["data.bias_augment"] = float(bias_augment)
    width, budget = ctx.scale_factors if scale is None else scale
    return scaled(load_profile(ctx.profile, **overrides), width, budget, precision=ctx.precision)


def run_for(ctx: Context, method: str, sites: Sequence[str], *, modalities: Sequence[str] = ("t1",),
            lam: float | None = None, holdout_scanners: Sequence[str] = (), bias_augment: float | None = None) -> Run:
    """Train (or reuse) one run (see :func:`config_for`) and load it on the context's device."""
    from deepnorm.training.loop import train
    from deepnorm.training.runs import load_run

    config = config_for(ctx, method, sites, modalities=modalities, lam=lam, holdout_scanners=holdout_scanners,
                        bias_augment=bias_augment)
    key = config.stable_hash()
    if key not in ctx._runs:
        # resume=True: a reproduction that was stopped continues its unfinished runs (same
        # configuration and data, so the same numbers as an uninterrupted run)
        folder = train(config, data_root=ctx.data_root, runs_dir=ctx.runs_dir, progress=ctx.progress, resume=True)
        ctx._runs[key] = load_run(folder, device=ctx.device)
    return ctx._runs[key]


def split_subjects(ctx: Context, run: Run, site: str, split: str = "test") -> list[Prepared]:
    """Prepared `split` subjects of `site` at the run's spacing and modalities, from the run's own splits.

    See :meth:`deepnorm.training.runs.Run.prepare_split`; a site the run was not trained on is
    split with the run's seed.
    """
    root = Path(ctx.data_root)
    ids = tuple(run.split_ids(root, site, split))
    data = run.config.data
    # loading a split reads every subject of the site (for the common shape): once per context
    key = (data.modalities, data.spacing, data.patch_size, site, split, ids)
    if key not in ctx._subjects:
        ctx._subjects[key] = run.prepare_split(root, site, split, runs_dir=ctx.runs_dir)
    return ctx._subjects[key]


def _cached(run: Run, kind: str, ctx: Context, compute: Callable[[], Any], **fields: Any) -> Any:
    key = ev.eval_key(kind=kind, data_root=ctx.data_root, **fields)
    path = run.folder / EVAL_DIR / f"{kind}-{key}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    value = compute()
    atomic_write_text(path, json.dumps(value, indent=1, default=float) + "\n")
    return value


def scores(ctx: Context, run: Run, sites: Sequence[str]) -> list[dict[str, Any]]:
    """Per-subject Dice/MHD of `run` on the test subjects of `sites` (cached in the run folder)."""
    def compute() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for site in sites:
            rows += ev.segmentation_scores(split_subjects(ctx, run, site), run.segment_volume, progress=ctx.progress)
        return rows

    return _cached(run, "scores", ctx, compute, sites=list(sites))


def _mean_row(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    summary = ev.summarize(rows, by=None)[0]
    keys = ("dice_csf", "dice_gm", "dice_wm", "dice_mean", "mhd_csf", "mhd_gm", "mhd_wm", "mhd_mean",
            "empty_csf", "empty_gm", "empty_wm")
    return {k: summary[k] for k in keys if k in summary}


# --------------------------------------------------------------------------- the data
def data_checks(ctx: Context) -> dict[str, list[dict[str, Any]]]:
    """The data-only numbers of the data root (no network): ``data_sites`` and ``data_jsd`` rows.

    Pre-processed at the profile's voxel size; written to ``results/data_sites.csv`` and
    ``results/data_jsd.csv`` and judged as D1-D3 (:mod:`deepnorm.study.data_checks`).
    """
    from deepnorm.study.data_checks import data_tables
    from deepnorm.training.config import profile

    sites, jsd = data_tables(ctx.data_root, spacing=profile(ctx.profile).data.spacing, progress=ctx.progress)
    write_table("data_sites", sites, Path(ctx.results_dir))
    write_table("data_jsd", jsd, Path(ctx.results_dir))
    return {"data_sites": sites, "data_jsd": jsd}


# --------------------------------------------------------------------------- Table 2
def table2(ctx: Context, sites: Sequence[str] = CROSS_SITES) -> list[dict[str, Any]]:
    """Segmenter alone, trained on one site and tested on each: Table 2 rows (C1)."""
    rows = []
    for train_site in sites:
        run = run_for(ctx, "segmenter", (train_site,))
        for test_site in sites:
            mean = _mean_row(scores(ctx, run, (test_site,)))
            rows.append({"train_site": train_site, "test_site": test_site, **mean})
    write_table("table2", rows, Path(ctx.results_dir))
    return rows


# --------------------------------------------------------------------------- Table 3
def table3(ctx: Context, settings: Sequence[str] = ("dual", "multi")) -> list[dict[str, Any]]:
    """Standardization, Pre-processor and Ours on two and three sites: Table 3 rows (C2, C3, C9).

    ``dice_mean`` is over the test subjects of every site of the setting; ``dice_mean_shared``
    over the iSEG and MRBrainS test subjects only, which both settings share (C9).
    """
    rows = []
    for setting in settings:
        sites = _setting(setting)
        for method in NORMALIZERS:
            run = run_for(ctx, method, sites)
            per_subject = scores(ctx, run, sites)
            shared = [r for r in per_subject if r["site"] in CROSS_SITES]
            rows.append({"setting": setting, "method": method, **_mean_row(per_subject),
                         "dice_mean_shared": _mean_row(shared)["dice_mean"]})
    write_table("table3", rows, Path(ctx.results_dir))
    return rows


def _setting(name: str) -> tuple[str, ...]:
    if name not in SETTINGS:
        raise ConfigError(f"setting={name!r}: use one of {sorted(SETTINGS)}")
    return SETTINGS[name]


# --------------------------------------------------------------------------- Table 4
def jsd_of(ctx: Context, run: Run, sites: Sequence[str], *, normalized: bool) -> dict[str, float]:
    """True and legacy JSD between the sites' brain histograms of the inputs or of `run`'s output."""
    def compute() -> dict[str, float]:
        histograms = {}
        for site in sites:
            pairs = []
            for s in split_subjects(ctx, run, site):
                image = run.normalize_volume(s.image, s.mask) if normalized else s.image
                pairs.append((image, s.mask))
            histograms[site] = ev.brain_histogram(pairs)
        return ev.site_jsd(histograms)

    return _cached(run, "jsd", ctx, compute, sites=list(sites), normalized=normalized)


def table4(ctx: Context, settings: Sequence[str] = ("dual", "multi")) -> list[dict[str, Any]]:
    """JSD between sites of the inputs, the Pre-processor's and Ours' outputs: Table 4 rows (C4)."""
    rows = []
    for setting in settings:
        sites = _setting(setting)
        pre = run_for(ctx, "preprocessor", sites)
        ours = run_for(ctx, "adversarial", sites)
        for stage, run, normalized in (("inputs", ours, False), ("preprocessor", pre, True), ("adversarial", ours, True)):
            values = jsd_of(ctx, run, sites, normalized=normalized)
            rows.append({"setting": setting, "stage": stage, "jsd": values["jsd"], "jsd_legacy": values["jsd_legacy"]})
    write_table("table4", rows, Path(ctx.results_dir))
    return rows


# --------------------------------------------------------------------------- Table 5
def table5(ctx: Context, setting: str = "dual") -> list[dict[str, Any]]:
    """Ours with T1 alone and with T1 + T2/FLAIR: Table 5 rows (C5)."""
    sites = _setting(setting)
    rows = []
    for modalities in (("t1",), ("t1", "t2")):
        run = run_for(ctx, "adversarial", sites, modalities=modalities)
        mean = _mean_row(scores(ctx, run, sites))
        rows.append({"modalities": "+".join(modalities), "dice_mean": mean["dice_mean"], "mhd_mean": mean["mhd_mean"]})
    write_table("table5", rows, Path(ctx.results_dir))
    return rows


# --------------------------------------------------------------------------- Table 6
def table6(ctx: Context, alphas: Sequence[float] = ev.ALPHAS, sites: Sequence[str] = ("mrbrains", "iseg")) -> list[dict[str, Any]]:
    """ρ(intensity, y) of bias-degraded test images before and after Ours trained with the
    robustness augmentation (:data:`ROBUSTNESS_AUGMENT`): Table 6 rows (C6)."""
    run = run_for(ctx, "adversarial", SETTINGS["dual"], bias_augment=ROBUSTNESS_AUGMENT)
    rows: list[dict[str, Any]] = []
    for site in sites:
        def compute(site: str = site) -> list[dict[str, Any]]:
            return ev.bias_correlations(split_subjects(ctx, run, site), run.normalize_volume, alphas, progress=ctx.progress)

        rows += _cached(run, "bias", ctx, compute, site=site, alphas=[float(a) for a in alphas], wm=True)
    write_table("table6", rows, Path(ctx.results_dir))
    return rows


# --------------------------------------------------------------------------- Table 7
def confusion_of(ctx: Context, run: Run, split: str) -> dict[str, Any]:
    """The discriminator's confusion matrix on `split` patches of the run's sites (real and generated)."""
    def compute() -> dict[str, Any]:
        subjects = [split_subjects(ctx, run, site, split=split) for site in run.config.data.sites]
        return ev.run_confusion(run, subjects, run.seed, CONFUSION_PATCHES)

    return _cached(run, "confusion", ctx, compute, split=split, n=CONFUSION_PATCHES, d_mode="train")


def _real_and_generated(prefix: str, confusion: dict[str, Any]) -> dict[str, float]:
    """D's accuracy on the real patches (called their own site) and on the generated ones, from a
    row-normalized confusion matrix of :func:`~deepnorm.evaluation.evaluate.run_confusion`, whose
    sites contribute equal numbers of patches (so the mean of the real diagonal is the accuracy
    over every real patch)."""
    matrix = np.asarray(confusion["matrix"], dtype=float)
    k = matrix.shape[0] - 1
    return {f"{prefix}_real": float(np.mean(np.diag(matrix)[:k])), f"{prefix}_generated": float(matrix[k, k])}


def table7(ctx: Context, lambdas: Sequence[float] = LAMBDAS, setting: str = "dual") -> list[dict[str, Any]]:
    """Ours at several λ: mean Dice, D accuracy on train/test patches, confusion matrices (C7, C8)."""
    sites = _setting(setting)
    rows, confusion = [], {}
    for lam in lambdas:
        run = run_for(ctx, "adversarial", sites, lam=lam)
        mean = _mean_row(scores(ctx, run, sites))
        train_c, test_c = confusion_of(ctx, run, "train"), confusion_of(ctx, run, "test")
        rows.append({"lam": float(lam), "dice_mean": mean["dice_mean"], "d_train_acc": train_c["accuracy"],
                     "d_test_acc": test_c["accuracy"], **_real_and_generated("d_train_acc", train_c),
                     **_real_and_generated("d_test_acc", test_c)})
        confusion[f"{float(lam):g}"] = {"matrix": test_c["matrix"], "classes": test_c["classes"]}
    write_table("table7", rows, Path(ctx.results_dir))
    write_json("table7_confusion", confusion, Path(ctx.results_dir))
    return rows


__all__ = [
    "LAMBDAS",
    "SETTINGS",
    "SITES",
    "Context",
    "config_for",
    "confusion_of",
    "jsd_of",
    "run_for",
    "scores",
    "split_subjects",
    "table2",
    "table3",
    "table4",
    "table5",
    "table6",
    "table7",
]
