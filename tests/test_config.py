"""Laws of deepnorm.training.config: validation, round trips, hashing, overrides, profiles."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from deepnorm.errors import ConfigError
from deepnorm.precision import choose_precision
from deepnorm.training.config import Config, DataConfig, ModelConfig, TrainConfig, profile


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_dict_and_yaml_round_trip_exactly(name, tmp_path):
    config = profile(name)
    assert Config.from_dict(config.to_dict()) == config
    assert Config.from_yaml(config.to_yaml()) == config
    path = tmp_path / "config.yaml"
    config.to_yaml(path)
    assert Config.from_yaml(path) == config
    assert Config.from_yaml(path).stable_hash() == config.stable_hash()


def test_stable_hash_is_sha256_of_canonical_json():
    config = profile("cpu")
    canonical = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"))
    assert config.stable_hash() == hashlib.sha256(canonical.encode()).hexdigest()[:12]
    assert len(config.stable_hash()) == 12
    assert config.replace(**{"train.lam": 0.1}).stable_hash() != config.stable_hash()
    assert profile("cpu").stable_hash() == config.stable_hash()


def test_replace_dotted_overrides():
    config = profile("cpu").replace(**{"train.lam": 0.1, "data.sites": ["mrbrains", "iseg", "abide"], "eval.stride": 4})
    assert config.train.lam == 0.1
    assert config.data.sites == ("iseg", "mrbrains", "abide")  # SITES order = domain index
    assert config.eval_.stride == 4
    assert profile("cpu").train.lam == 1.5  # the original is untouched (frozen value)
    with pytest.raises(ConfigError, match="train.bogus"):
        profile("cpu").replace(**{"train.bogus": 1})
    with pytest.raises(ConfigError, match="unknown override key"):
        profile("cpu").replace(**{"nosection": 1})


@pytest.mark.parametrize(
    "key, value, field_name",
    [
        ("data.sites", ["iseg", "oasis"], "data.sites"),
        ("data.sites", [], "data.sites"),
        ("data.modalities", ["t1", "pd"], "data.modalities"),
        ("data.modalities", ["t2"], "data.modalities"),
        ("train.method", "cyclegan", "train.method"),
        ("train.lam", -0.5, "train.lam"),
        ("train.device", "tpu", "train.device"),
        ("train.generator_loss", "wgan", "train.generator_loss"),
        ("data.patch_size", 12, "data.patch_size"),
        ("data.bias_augment", 1.5, "data.bias_augment"),
        ("train.milestones", [8, 5], "train.milestones"),
        ("eval_.stride", 32, "eval_.stride"),
    ],
)
def test_invalid_values_name_the_field(key, value, field_name):
    with pytest.raises(ConfigError, match=field_name.replace(".", r"\.")):
        profile("cpu").replace(**{key: value})


def test_patch_not_divisible_names_nearest_valid_size():
    with pytest.raises(ConfigError, match="nearest valid size 16"):
        Config(data=DataConfig(patch_size=18), model=ModelConfig(widths=(8, 16, 32, 64)))


def test_abide_with_t2_is_rejected():
    with pytest.raises(ConfigError, match="ABIDE has only T1"):
        DataConfig(sites=("iseg", "abide"), modalities=("t1", "t2"))


def test_paper_profile_is_the_papers_setting():
    config = profile("paper")
    assert config.data.spacing == 1.0 and config.data.patch_size == 32 and config.eval_.stride == 8
    assert config.model.widths == (64, 128, 256, 512, 512)
    assert config.model.disc_widths == (16, 32, 64, 128)
    assert (config.train.lr_gs, config.train.lr_d, config.train.weight_decay) == (1e-3, 1e-4, 1e-3)
    assert config.train.milestones == (50 / 120, 75 / 120) and config.train.lr_gamma == 0.1  # epochs 50, 75 of 120
    assert config.train.plateau_patience == 7
    assert (config.train.lam, config.train.n_steps, config.train.epochs) == (1.5, 3, 120)
    assert (config.data.patches_per_site, config.data.val_patches_per_site) == (40_000, 12_000)
    assert config.train.device == "cuda" and not config.train.amp and config.train.deterministic
    three = profile("paper", **{"data.sites": ["iseg", "mrbrains", "abide"]})
    assert three.train.epochs == 70 and three.train.milestones == (50 / 70,)  # epoch 50 of 70; 75 never comes


def test_cpu_profile_keeps_the_papers_physical_patch():
    cpu, paper = profile("cpu"), profile("paper")
    assert cpu.data.patch_size * cpu.data.spacing == paper.data.patch_size * paper.data.spacing == 32.0
    assert cpu.model.widths == (8, 16, 32, 64) and cpu.eval_.stride == 8
    assert profile("cpu", **{"data.sites": "iseg,mrbrains,abide"}).train.epochs < cpu.train.epochs


def test_derived_batches_per_epoch():
    config = profile("paper")
    assert config.batches_per_epoch == -(-2 * 40_000 // config.train.batch_size)
    assert profile("smoke").batches_per_epoch == profile("smoke").train.batches_per_epoch


def test_unknown_profile_and_sections_rejected():
    with pytest.raises(ConfigError, match="unknown profile"):
        profile("gpu")
    with pytest.raises(ConfigError, match="unknown config section"):
        Config.from_dict({"profile": "cpu", "optim": {}})
    with pytest.raises(ConfigError, match="data.spacingg"):
        Config.from_dict({"data": {"spacingg": 1.0}})


def test_sections_are_frozen():
    config = profile("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.lam = 3.0  # type: ignore[misc]
    assert isinstance(config.train, TrainConfig)


#: ``to_dict()`` of the paper profile as written out literally before the profiles became differences
#: from the paper's, and what the cpu and smoke profiles changed, written out the same way;
#: ``fake_class_weight`` was dropped afterwards
PAPER_LITERAL = {'data': {'bias_augment': 0.5,
          'modalities': ['t1'],
          'patch_size': 32,
          'patches_per_site': 40000,
          'sites': ['iseg', 'mrbrains'],
          'spacing': 1.0,
          'val_patches_per_site': 12000},
 'eval_': {'batch_size': 32, 'stride': 8},
 'model': {'disc_widths': [16, 32, 64, 128], 'dropout': 0.25, 'widths': [64, 128, 256, 512, 512]},
 'profile': 'paper',
 'train': {'amp': True,
           'batch_size': 16,
           'batches_per_epoch': 0,
           'device': 'cuda',
           'epochs': 120,
           'fake_class_weight': 1.0,
           'generator_loss': 'nonsaturating',
           'lam': 1.5,
           'lr_d': 0.0001,
           'lr_gamma': 0.1,
           'lr_gs': 0.001,
           'method': 'adversarial',
           'milestones': [50, 75],
           'n_steps': 3,
           'plateau_patience': 7,
           'seed': 0,
           'weight_decay': 0.001}}
CPU_LITERAL_CHANGES = {'data': {'patch_size': 16, 'patches_per_site': 640, 'spacing': 2.0, 'val_patches_per_site': 64},
 'eval_': {'batch_size': 16},
 'model': {'widths': [8, 16, 32, 64]},
 'profile': 'cpu',
 'train': {'amp': False,
           'batch_size': 8,
           'device': 'cpu',
           'epochs': 12,
           'milestones': [8, 11],
           'plateau_patience': 3}}
SMOKE_LITERAL_CHANGES = {'data': {'patch_size': 8, 'patches_per_site': 8, 'spacing': 4.0, 'val_patches_per_site': 4},
 'eval_': {'batch_size': 32, 'stride': 4},  # batch 8 until smoke's windows went 32 a call
 'model': {'disc_widths': [4, 8], 'widths': [4, 8]},
 'profile': 'smoke',
 'train': {'amp': False,
           'batch_size': 4,
           'batches_per_epoch': 2,
           'device': 'cpu',
           'epochs': 2,
           'milestones': [1],
           'n_steps': 1,
           'plateau_patience': 1}}


def _with(base: dict, changes: dict) -> dict:
    out = json.loads(json.dumps(base))
    for section, values in changes.items():
        if isinstance(values, dict):
            out[section].update(values)
        else:
            out[section] = values
    return out


PROFILE_LITERALS = {"cpu": _with(PAPER_LITERAL, CPU_LITERAL_CHANGES), "paper": PAPER_LITERAL,
                    "smoke": _with(PAPER_LITERAL, SMOKE_LITERAL_CHANGES)}

#: What the three-site form of each profile changed, written out the same way (the paper's 70 epochs
#: for three sites; the cpu profile's fewer, longer epochs and its milestones then in epochs)
THREE_SITE_LITERALS = {
    'cpu': {'data': {'sites': ['iseg', 'mrbrains', 'abide']}, 'train': {'epochs': 8, 'milestones': [5, 7]}},
    'paper': {'data': {'sites': ['iseg', 'mrbrains', 'abide']}, 'train': {'epochs': 70}},
    'smoke': {'data': {'sites': ['iseg', 'mrbrains', 'abide']}, 'train': {}},
}


PROFILE_ORACLE = {**PROFILE_LITERALS,
                  **{f"{name}/three-sites": _with(PROFILE_LITERALS[name], THREE_SITE_LITERALS[name])
                     for name in PROFILE_LITERALS}}


@pytest.mark.parametrize("key", sorted(PROFILE_ORACLE))
def test_profiles_equal_the_literal_profiles(key):
    name, _, variant = key.partition("/")
    overrides = {"data.sites": ("iseg", "mrbrains", "abide")} if variant else {}
    expected = json.loads(json.dumps(PROFILE_ORACLE[key]))
    expected["train"].pop("fake_class_weight", None)
    got = profile(name, **overrides).to_dict()
    got["train"].pop("fake_class_weight", None)
    # fields added after the oracle was recorded
    assert got["model"].pop("channels_last") is (name == "cpu")  # measured faster on CPU
    assert got["train"].pop("dice_loss") == "per_class"  # chosen on validation Dice
    assert got["train"].pop("deterministic") is True  # bit-identical CUDA trainings by default
    # bf16 where the processor's units pay (the cpu profile only, deepnorm.precision); float32 is not stored
    expected_precision = choose_precision(got["model"]["widths"], "cpu") if name == "cpu" else "float32"
    assert got["train"].pop("precision", "float32") == expected_precision
    # schedules as fractions of the run (the paper's epochs 50 and 75 of 120; 50 of the paper's 70
    # three-site epochs); D's plateau only where 7/120 of the run is at least one epoch
    milestones = [50 / 70] if key == "paper/three-sites" else [50 / 120, 75 / 120]
    assert got["train"].pop("milestones") == pytest.approx(milestones)
    assert got["train"].pop("plateau_patience") == (7 if name == "paper" else 0)
    expected["train"].pop("milestones"), expected["train"].pop("plateau_patience")
    # the bias-field augmentation only in the robustness trainings (Table 6, Fig. 8; Sec. 3.5)
    assert got["data"].pop("bias_augment") == 0.0 and expected["data"].pop("bias_augment") == 0.5
    if name == "paper":  # bf16 autocast turned off after the GPU check (1.07x faster, Dice moved)
        assert got["train"]["amp"] is False and expected["train"]["amp"] is True
        expected["train"]["amp"] = False
    assert got == expected


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_deterministic_must_be_a_bool(bad):
    with pytest.raises(ConfigError, match="train.deterministic"):
        profile("smoke", **{"train.deterministic": bad})


def test_fake_class_weight_is_gone():
    # it was validated and hashed into the run name but never reached D's loss
    assert "fake_class_weight" not in {f.name for f in dataclasses.fields(TrainConfig)}
    with pytest.raises(ConfigError, match="fake_class_weight"):
        profile("smoke", **{"train.fake_class_weight": 0.5})


def test_profiles_are_differences_from_the_paper():
    from deepnorm.training import config as module

    paper = profile("paper").to_dict()
    for name in ("cpu", "smoke"):
        changed = module.PROFILE_CHANGES[name]
        got = profile(name).to_dict()
        for key, value in changed.items():
            section, _, field_name = key.partition(".")
            if key == "train.precision":  # "auto" is resolved on construction; float32 is not stored
                value = choose_precision(got["model"]["widths"], got["train"]["device"]) if value == "auto" else value
                assert got["train"].get("precision", "float32") == value, key
                continue
            got_value = got[section][field_name] if field_name else got[section]
            assert got_value == (list(value) if isinstance(value, tuple) else value), key
        # every other field is the paper's
        for section, fields in paper.items():
            if not isinstance(fields, dict):
                continue
            for field_name, value in fields.items():
                if f"{section}.{field_name}" not in changed:
                    assert got[section][field_name] == value, (name, section, field_name)


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
@pytest.mark.parametrize("sites", [("iseg", "mrbrains"), ("iseg", "mrbrains", "abide")])
def test_every_profile_keeps_the_papers_schedule_as_fractions_of_its_run(name, sites):
    from deepnorm.training.config import milestone_iterations

    config = profile(name, **{"data.sites": sites})
    t = config.train
    total = t.epochs * config.batches_per_epoch
    drops = milestone_iterations(t.milestones, total)
    if name == "paper" and len(sites) == 3:  # the text's epochs 50 and 75 with 70 epochs
        assert drops == [50 * config.batches_per_epoch]
    else:  # lr(G, S) drops at 50/120 and 75/120 of the run's iterations (to the nearest iteration)
        assert len(drops) == 2 or total < 8
        for drop, fraction in zip(drops, (50 / 120, 75 / 120)):
            assert abs(drop - fraction * total) <= 0.5
    # D's plateau waits at least the paper's 7/120 of the run, or there is none (a run whose
    # 7/120 is under one epoch would cut lr(D) on one validation)
    if t.plateau_patience:
        assert t.plateau_patience / t.epochs >= 7 / 120
    else:
        assert 7 / 120 * t.epochs < 1


def test_milestones_are_fractions():
    with pytest.raises(ConfigError, match="train.milestones"):
        profile("smoke", **{"train.milestones": [50, 75]})
    with pytest.raises(ConfigError, match="train.plateau_patience"):
        profile("smoke", **{"train.plateau_patience": -1})


def test_lambda_is_a_rule_of_the_configuration_for_methods_with_a_discriminator():
    from deepnorm.training.config import DISCRIMINATOR_METHODS
    from deepnorm.training.methods import REGISTRY

    assert set(DISCRIMINATOR_METHODS) == {name for name, cls in REGISTRY.items() if cls.uses_discriminator}
    assert profile("smoke", **{"train.method": "adversarial", "train.lam": 5.0}).train.lam == 5.0
    with pytest.raises(ConfigError, match="no discriminator"):
        profile("smoke", **{"train.method": "segmenter", "train.lam": 5.0})
    # the default λ is kept by every method, so one training has one run folder
    assert profile("smoke", **{"train.method": "preprocessor"}).train.lam == 1.5
