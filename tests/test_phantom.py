"""The embedded phantom: layout, formats, loaders, contrast laws, determinism, reuse and refusal."""

from __future__ import annotations

import os
import socket
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from deepnorm.data.io import load_volume, orientation
from deepnorm.data.phantom import build as ph
from deepnorm.data.phantom.anatomy import Anatomy, deformed_anatomy, rotation_matrix, smooth_random_field
from deepnorm.data.phantom.sites import Contrast, render
from deepnorm.data.sites import ABIDE, ISeg2017, MRBrainS13, available_sites, get_site
from deepnorm.errors import DataError
from deepnorm.labels import CSF, GM, WM


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The smoke phantom, built once with network connections refused and an empty nilearn data dir."""
    base = tmp_path_factory.mktemp("phantom")
    nilearn_data = base / "nilearn_data"
    nilearn_data.mkdir()

    def no_network(*args, **kwargs):
        raise OSError("network access attempted while building the phantom")

    from deepnorm.data.phantom import anatomy as phantom_anatomy

    phantom_anatomy._mni_1mm.cache_clear()
    phantom_anatomy.load_atlas.cache_clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", no_network)
        mp.setenv("NILEARN_DATA", str(nilearn_data))
        out = ph.build_phantom(base / "data", "smoke", seed=0, progress=False)
    assert not any(nilearn_data.iterdir()), "nilearn downloaded something"
    return out


def _tissue_means(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.array([image[labels == t].mean() for t in (CSF, GM, WM)], dtype=float)


def test_layout_and_formats(root):
    iseg = root / "iSEG-2017" / "iSeg-2017-Training"
    for i in range(1, 11):
        for part in ("T1", "T2", "label"):
            assert (iseg / f"subject-{i}-{part}.hdr").is_file() and (iseg / f"subject-{i}-{part}.img").is_file()
    for i in range(1, 6):
        for name in ("T1.nii", "T2_FLAIR.nii", "LabelsForTesting.nii"):
            assert (root / "MRBrainS13" / "TrainingData" / str(i) / name).is_file()
    abide = sorted(p.name for p in (root / "ABIDE").iterdir())
    assert len(abide) == 5
    for name in abide:
        site, number = name.rsplit("_", 1)
        assert site.isalpha() and len(number) == 5 and number.isdigit()
        for f in ("T1.mgz", "brainmask.mgz", "aparc+aseg.mgz"):
            assert (root / "ABIDE" / name / "mri" / f).is_file()
    meta = ph._read_marker(root)
    assert meta["profile"] == "smoke" and meta["seed"] == 0 and meta["sites"] == {"iseg": 10, "mrbrains": 5, "abide": 5}
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")], "temporary folder left behind"
    # raw label codes are the data sets' own
    assert set(np.unique(load_volume(iseg / "subject-1-label.hdr").data)) == {0, 10, 150, 250}
    assert set(np.unique(load_volume(root / "MRBrainS13/TrainingData/1/LabelsForTesting.nii").data)) == {0, 1, 2, 3}


@pytest.mark.parametrize("cls, n", [(ISeg2017, 10), (MRBrainS13, 5), (ABIDE, 5)])
def test_loaders_read_every_subject(root, cls, n):
    site = cls(root)
    assert len(site.subject_ids) == n
    for sid in site.subject_ids:
        subject = site.load(sid)
        labels = subject.labels.data
        assert set(np.unique(labels)) == {0, 1, 2, 3}
        for volume in subject.images.values():
            assert volume.shape == labels.shape and volume.data.max() > 0
    assert available_sites(root) == ["iseg", "mrbrains", "abide"]


def test_isointense_iseg_has_less_gm_wm_contrast_than_mrbrains(root):
    def contrast(site):
        values = []
        for sid in site.subject_ids:
            s = site.load(sid)
            _, gm, wm = _tissue_means(s.images["t1"].data.astype(float), s.labels.data)
            values.append(abs(wm - gm) / (wm + gm))
        return float(np.mean(values))

    iseg, mrb = contrast(ISeg2017(root)), contrast(MRBrainS13(root))
    assert iseg < 0.5 * mrb
    assert mrb > 0.1


def test_flair_csf_darker_than_gm_and_t1_order(root):
    site = MRBrainS13(root)
    for sid in site.subject_ids:
        s = site.load(sid)
        csf, gm, wm = _tissue_means(s.images["t2"].data.astype(float), s.labels.data)
        assert csf < 0.7 * gm
        csf, gm, wm = _tissue_means(s.images["t1"].data.astype(float), s.labels.data)
        assert csf < gm < wm


def test_mrbrains_spacing_is_anisotropic(root):
    site = MRBrainS13(root)
    spacing = site.load(site.subject_ids[0]).images["t1"].spacing
    assert spacing[0] == spacing[1] and spacing[2] > 2 * spacing[0]


def test_abide_scanners_mask_codes_and_skull(root):
    site = ABIDE(root)
    assert len({site.scanner_of(s) for s in site.subject_ids}) == 2
    means = []
    for sid in site.subject_ids:
        s = site.load(sid)
        brain = s.mask.data
        np.testing.assert_array_equal(brain, s.labels.data > 0)
        t1 = s.images["t1"].data.astype(float)
        wm = t1[s.labels.data == WM].mean()
        # a faint skull/scalp outside the brain: skull stripping matters
        assert np.count_nonzero((~brain) & (t1 > 0.2 * wm)) > 0.02 * brain.sum()
        codes = set(np.unique(load_volume(root / "ABIDE" / sid / "mri" / "aparc+aseg.mgz").data).tolist())
        assert {2, 41, 3, 42, 4, 43, 24, 10, 49, 8, 47, 7, 46}.issubset(codes)
        assert any(1000 <= c < 1036 for c in codes) and any(2000 <= c < 2036 for c in codes)
        means.append(_tissue_means(t1, s.labels.data) / wm)
    scanners = [site.scanner_of(s) for s in site.subject_ids]
    by = {sc: np.mean([m for m, k in zip(means, scanners) if k == sc], axis=0) for sc in set(scanners)}
    a, b = by.values()
    assert np.abs(a - b).max() > 0.03  # sub-sites differ in contrast


def test_same_seed_same_arrays_other_seed_different(root):
    subjects = ph.plan("smoke")
    for pick in (subjects[0], subjects[10], subjects[-1]):  # one per site
        again = ph.generate_subject(pick, "smoke", seed=0)
        for rel, volume in again.items():
            on_disk = load_volume(root / rel, canonical=False)  # the file as written
            assert on_disk.data.dtype == volume.data.dtype
            assert on_disk.data.tobytes() == volume.data.tobytes(), rel
            np.testing.assert_allclose(on_disk.affine, volume.affine, atol=1e-6)
        other = ph.generate_subject(pick, "smoke", seed=1)
        rel = next(iter(again))
        a, b = again[rel].data, other[rel].data
        assert a.shape != b.shape or not np.array_equal(a, b)


@pytest.mark.parametrize("site, codes", [("iseg", ("R", "A", "S")), ("mrbrains", ("R", "A", "S")),
                                         ("abide", ("L", "I", "A"))])
def test_files_are_written_in_the_sites_orientation_and_load_as_rendered(root, site, codes, monkeypatch):
    pick = next(s for s in ph.plan("smoke") if s.site == site)
    real = get_site(site)
    assert real.phantom.orientation == codes
    for rel in ph.generate_subject(pick, "smoke", seed=0):
        assert orientation(load_volume(root / rel, canonical=False).affine) == codes, rel
    # the same subject rendered and kept in RAS: what the loaders returned before ABIDE was LIA
    as_ras = replace(real, phantom=replace(real.phantom, orientation=("R", "A", "S")))
    monkeypatch.setattr(ph, "get_site", lambda key: as_ras if key == site else get_site(key))
    for rel, rendered in ph.generate_subject(pick, "smoke", seed=0).items():
        loaded = load_volume(root / rel)
        assert loaded.data.dtype == rendered.data.dtype and loaded.shape == rendered.shape, rel
        assert loaded.data.tobytes() == rendered.data.tobytes(), rel
        assert loaded.spacing == rendered.spacing
        np.testing.assert_array_equal(loaded.affine, rendered.affine)


def test_subjects_differ_and_labels_are_argmax():
    a = deformed_anatomy(np.random.default_rng(1), (4.0, 4.0, 4.0), scale=1.0)
    b = deformed_anatomy(np.random.default_rng(2), (4.0, 4.0, 4.0), scale=1.0)
    assert a.labels.shape != b.labels.shape or not np.array_equal(a.labels, b.labels)
    probs = np.stack([a.csf, a.gm, a.wm])
    np.testing.assert_array_equal(a.labels, np.where(a.brain, probs.argmax(0) + 1, 0))
    assert np.all(probs.sum(0) <= 1 + 1e-5) and np.all(probs >= 0)
    small = deformed_anatomy(np.random.default_rng(1), (4.0, 4.0, 4.0), scale=0.8)
    assert small.brain.sum() < 0.7 * a.brain.sum()  # volume ~ scale^3 = 0.51


def test_smooth_field_and_rotation_laws():
    rng = np.random.default_rng(0)
    f = smooth_random_field((20, 24, 18), (2.0, 2.0, 2.0), 20.0, rng, n=2)
    assert f.shape == (2, 20, 24, 18) and f.dtype == np.float32
    np.testing.assert_allclose(f.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(f.std(axis=(1, 2, 3)), 1, atol=1e-4)
    neighbour = np.corrcoef(f[0, 1:].ravel(), f[0, :-1].ravel())[0, 1]
    assert neighbour > 0.95
    g = smooth_random_field((20, 24, 18), (2.0, 2.0, 2.0), 20.0, np.random.default_rng(0), n=2)
    np.testing.assert_array_equal(f, g)
    r = rotation_matrix(np.array([3.0, -2.0, 4.0]))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(r), 1.0)


def test_render_pure_tissue_means_and_rician_noise():
    shape = (30, 30, 30)
    ones, zeros = np.ones(shape, np.float32), np.zeros(shape, np.float32)
    wm_only = Anatomy(zeros, zeros, ones, np.ones(shape, bool), -ones * 20, np.full(shape, 3),
                      (1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    c = Contrast(csf=0.2, gm=0.5, wm=0.8)
    clean = render(wm_only, c, np.random.default_rng(0), noise=0.0, bias=0.0, jitter=0.0)
    np.testing.assert_allclose(clean, 0.8, rtol=1e-6)
    noisy = render(wm_only, c, np.random.default_rng(0), noise=0.1, bias=0.0, jitter=0.0)
    expected = stats.rice(b=0.8 / 0.1, scale=0.1).mean()  # scipy's Rician as the oracle
    assert abs(noisy.mean() - expected) < 3 * 0.1 / np.sqrt(noisy.size) + 1e-4
    dark = render(wm_only, Contrast(0.0, 0.0, 0.0), np.random.default_rng(0), noise=0.1, bias=0.0, jitter=0.0)
    assert abs(dark.mean() - stats.rayleigh(scale=0.1).mean()) < 0.002  # zero signal -> Rayleigh


def test_ensure_phantom_reuses_without_touching(root):
    files = [root / "PHANTOM.json", root / "MRBrainS13" / "TrainingData" / "1" / "T1.nii"]
    before = [os.stat(f).st_mtime_ns for f in files]
    assert ph.ensure_phantom("smoke", 0, root=root) == root
    assert [os.stat(f).st_mtime_ns for f in files] == before


def test_ensure_phantom_rebuild_decisions(tmp_path, monkeypatch, root):
    calls = []
    monkeypatch.setattr(ph, "build_phantom", lambda r, p, s, progress=True: calls.append((r, p, s)) or r)
    assert ph.ensure_phantom("smoke", 1, root=root) == root  # other seed -> rebuild
    assert ph.ensure_phantom("smoke", 0, root=root, force=True) == root
    fresh = tmp_path / "absent"
    ph.ensure_phantom("smoke", 0, root=fresh)
    assert [c[2] for c in calls] == [1, 0, 0] and calls[-1][0] == fresh.resolve()


def test_refuses_a_folder_that_is_not_a_phantom(tmp_path):
    precious = tmp_path / "mydata"
    precious.mkdir()
    (precious / "scan.nii").write_bytes(b"keep me")
    for call in (lambda: ph.ensure_phantom("smoke", 0, root=precious),
                 lambda: ph.build_phantom(precious, "smoke", 0, progress=False)):
        with pytest.raises(DataError, match="not a deepnorm phantom"):
            call()
    assert (precious / "scan.nii").read_bytes() == b"keep me"
    (precious / "PHANTOM.json").write_text('{"made_by": "someone else"}')
    with pytest.raises(DataError, match=str(precious.name)):
        ph.ensure_phantom("smoke", 0, root=precious)


def test_cli_prints_the_root(root, capsys):
    from deepnorm.cli import main

    assert main(["data", "phantom", "--profile", "smoke", "--seed", "0", "--root", str(root)]) == 0
    assert capsys.readouterr().out.strip() == str(root)


def test_plot_phantom_sites(root, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from deepnorm.plots.phantom import plot_phantom_sites

    out = tmp_path / "sites.png"
    figure = plot_phantom_sites(root, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(figure.axes) >= 12  # 3 sites x 4 panels


def test_failed_build_leaves_nothing_and_old_phantom_intact(tmp_path, monkeypatch, root):
    calls = {"n": 0}
    real = ph.generate_subject

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(ph, "generate_subject", flaky)
    target = tmp_path / "phantom"
    with pytest.raises(RuntimeError):
        ph.build_phantom(target, "smoke", 0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_swap_keeps_a_phantom_finished_meanwhile(tmp_path):
    meta = {"generator": ph.GENERATOR, "version": ph.PHANTOM_VERSION, "profile": "smoke", "seed": 0}
    target, ours = tmp_path / "root", tmp_path / ".root.building"
    target.mkdir()
    ours.mkdir()
    (target / ph.MARKER).write_text(__import__("json").dumps({**meta, "built": "theirs"}))
    ph._swap_into_place(ours, target, {**meta, "built": "ours"}, before=None)
    assert "theirs" in (target / ph.MARKER).read_text() and ours.exists()
    ph._swap_into_place(ours, target, {**meta, "built": "ours"}, before=ph._read_marker(target))
    assert not ours.exists() and not (target / ph.MARKER).exists()  # replaced by our (empty) folder


# ------------------------------------------------------------------ site contrast and anatomy laws
def _bayes(site, modality):
    from deepnorm.data.phantom.checks import bayes_error

    errors = []
    for sid in site.subject_ids:
        s = site.load(sid)
        image, labels = s.images[modality].data.astype(float), s.labels.data
        hi = np.percentile(image[labels > 0], 99.5)
        errors.append(bayes_error(image[labels == GM] / hi, image[labels == WM] / hi, bins=32))
    return float(np.mean(errors))


def test_iseg_gm_and_wm_overlap_in_t1_and_t2(root):
    iseg, mrb = ISeg2017(root), MRBrainS13(root)
    for modality in ("t1", "t2"):
        assert _bayes(iseg, modality) > 0.3, modality  # isointense: GM and WM overlap
    assert _bayes(mrb, "t1") < _bayes(iseg, "t1") - 0.1


def test_iseg_is_small_skull_stripped_and_without_cerebellum(root):
    iseg, mrb = ISeg2017(root), MRBrainS13(root)

    def volume_ml(site):
        vols = []
        for sid in site.subject_ids:
            labels = site.load(sid).labels
            vols.append((labels.data > 0).sum() * np.prod(labels.spacing) / 1000.0)
        return float(np.mean(vols))

    assert volume_ml(iseg) < 0.8 * volume_ml(mrb)
    s = iseg.load(iseg.subject_ids[0])
    for volume in s.images.values():
        assert np.all(volume.data[s.labels.data == 0] == 0)  # 0 outside the brain


def test_elderly_csf_fraction_above_young_adults(root):
    def csf_fraction(site):
        return float(np.mean([np.mean(site.load(sid).labels.data[site.load(sid).labels.data > 0] == CSF)
                              for sid in site.subject_ids]))

    assert csf_fraction(MRBrainS13(root)) > csf_fraction(ABIDE(root)) + 0.03


def test_white_matter_lesions_bright_in_flair_dark_in_t1():
    from deepnorm.data.sites import mrbrains

    a = deformed_anatomy(np.random.default_rng(3), (2.0, 2.0, 2.0), scale=1.0, lesion_ml=8.0, fossa="unlabelled")
    assert 4.0 < a.lesion.sum() * 8.0 / 1000.0 < 12.0  # mL, about the requested volume
    assert np.all(a.lesion <= a.wm + 1e-6) and np.all(a.labels[a.lesion > 0.5] == WM)
    lesion = a.lesion > 0.5
    plain_wm = (a.labels == WM) & (a.lesion < 0.01)
    for contrast, brighter in ((mrbrains.FLAIR, True), (mrbrains.T1, False)):
        image = render(a, contrast, np.random.default_rng(0), noise=0.0, bias=0.0, jitter=0.0)
        gm = image[a.labels == GM].mean()
        if brighter:
            assert image[lesion].mean() > gm > image[plain_wm].mean()
        else:
            assert image[lesion].mean() < image[plain_wm].mean()


def test_posterior_fossa_modes():
    base = dict(scale=1.0, margin_mm=4.0)
    kept = deformed_anatomy(np.random.default_rng(4), (4.0, 4.0, 4.0), fossa="brain", **base)
    unlabelled = deformed_anatomy(np.random.default_rng(4), (4.0, 4.0, 4.0), fossa="unlabelled", **base)
    removed = deformed_anatomy(np.random.default_rng(4), (4.0, 4.0, 4.0), fossa="removed", **base)
    fossa = kept.fossa > 0.5
    assert 0.05 < fossa.sum() / kept.brain.sum() < 0.2  # cerebellum + brainstem: about a tenth of the brain
    assert np.all(kept.labels[fossa] > 0) and np.all(unlabelled.labels[fossa] == 0)
    np.testing.assert_array_equal(unlabelled.gm, kept.gm)  # still in the image
    assert np.all(removed.labels[fossa] == 0) and removed.gm[fossa].max() < 0.5


def test_myelination_brightens_central_wm_in_t1():
    from deepnorm.data.sites import iseg

    a = deformed_anatomy(np.random.default_rng(5), (2.0, 2.0, 2.0), scale=0.85, fossa="removed")
    image = render(a, iseg.T1, np.random.default_rng(0), noise=0.0, bias=0.0, jitter=0.0)
    wm = (a.labels == WM) & (a.wm > 0.9)
    deep, shallow = wm & (a.distance < -20), wm & (a.distance > -10)
    assert deep.sum() > 20 and shallow.sum() > 20
    assert image[deep].mean() > image[shallow].mean() * 1.05
    t2 = render(a, iseg.T2, np.random.default_rng(0), noise=0.0, bias=0.0, jitter=0.0)
    assert t2[deep].mean() < t2[shallow].mean()
