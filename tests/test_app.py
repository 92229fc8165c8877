"""The App protocol, Config overrides and the registry."""

import dataclasses

import pytest

from apps import APPS, get_app
from apps.app import App, TrainConfig, apply_overrides, config_from_dict, config_hash, config_to_dict
from apps.errors import GlasswingError


def test_overrides_are_coerced_to_field_types():
    cfg = apply_overrides(
        APPS["image"].Config(), ["epochs=3", "learning_rate=0.01", "augment=false", "data_dir=/x"]
    )
    assert cfg.epochs == 3 and isinstance(cfg.epochs, int)
    assert cfg.learning_rate == pytest.approx(0.01)
    assert cfg.augment is False
    assert cfg.data_dir == "/x"


def test_overrides_leave_the_original_untouched():
    base = APPS["image"].Config()
    apply_overrides(base, ["epochs=3"])
    assert base.epochs == APPS["image"].Config().epochs


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(GlasswingError) as err:
        apply_overrides(APPS["image"].Config(), ["epoch=3"])
    message = str(err.value)
    assert "'epoch'" in message and "epochs" in message and "learning_rate" in message


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("epochs=three", "expected int"),
        ("augment=maybe", "boolean"),
        ("epochs", "key=value"),
        ("epochs=0", "epochs must be >= 1"),
        ("strategy=tpu", "Unknown strategy"),
        ("mixed_precision=yes", "Unknown mixed_precision"),
    ],
)
def test_bad_override_values_are_named(override, fragment):
    with pytest.raises(GlasswingError, match=fragment):
        apply_overrides(APPS["image"].Config(), [override])


def test_config_round_trips_through_a_dict_and_ignores_unknown_keys():
    app = APPS["image"]
    cfg = apply_overrides(app.Config(), ["epochs=7"])
    values = config_to_dict(cfg) | {"removed_in_a_later_version": 1}
    assert config_from_dict(app, values) == cfg


def test_config_hash_changes_with_the_config():
    cfg = APPS["image"].Config()
    assert config_hash(cfg) == config_hash(dataclasses.replace(cfg))
    assert config_hash(cfg) != config_hash(dataclasses.replace(cfg, epochs=cfg.epochs + 1))


def test_get_app_names_the_valid_apps():
    assert get_app("image") is APPS["image"]
    with pytest.raises(GlasswingError, match=r"Unknown app='nope'.*'image'"):
        get_app("nope")


def test_app_rejects_unknown_modality_and_plain_configs():
    fields = {f.name: getattr(APPS["image"], f.name) for f in dataclasses.fields(App)}
    with pytest.raises(ValueError, match="modality"):
        App(**(fields | {"modality": "video"}))

    @dataclasses.dataclass
    class Plain:
        epochs: int = 1

    with pytest.raises(TypeError, match="TrainConfig"):
        App(**(fields | {"Config": Plain}))


@pytest.mark.parametrize("name", sorted(APPS))
def test_every_config_has_tiny_settings(name):
    cfg, tiny = APPS[name].Config(), APPS[name].Config.tiny()
    assert isinstance(tiny, TrainConfig)
    assert tiny.epochs <= cfg.epochs and tiny.max_train_examples > 0
