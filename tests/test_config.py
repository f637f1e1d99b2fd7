import os

import pytest
import yaml

from resnext.config import (
    Config,
    ConfigError,
    load_config,
    load_schema,
    parse_override,
    write_resolved,
)

DEMO_CONFIG = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config", "config.yaml"
)


def test_demo_config_loads_and_is_frozen():
    cfg = load_config(DEMO_CONFIG)
    assert cfg.arch == "resnext50_32x4d" and cfg.run_name == "demo"
    with pytest.raises(Exception):
        cfg.batch_size = 3


def test_every_schema_key_has_description_and_default():
    props = load_schema()["properties"]
    for key, spec in props.items():
        assert spec.get("description"), key
        assert "default" in spec, key
    assert {f for f in Config.__dataclass_fields__} == set(props)


def test_defaults_satisfy_the_schema():
    # a config of nothing but defaults must load
    cfg = load_config([])
    assert cfg.num_classes == 1001 and cfg.image_mean == (121.0, 115.0, 100.0)


def test_override_parses_yaml_values():
    cfg = load_config(DEMO_CONFIG, ["batch_size=8", "random_flip=true", "image_std=[1, 2, 3]"])
    assert cfg.batch_size == 8 and cfg.random_flip is True and cfg.image_std == (1.0, 2.0, 3.0)
    assert parse_override("restore_path=") == ("restore_path", "")


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("batch_sise: 8\n")
    with pytest.raises(ConfigError, match="batch_sise") as err:
        load_config([DEMO_CONFIG, str(path)])
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "override,key",
    [
        ("batch_size=eight", "batch_size"),
        ("batch_size=-4", "batch_size"),
        ("lr_decay_mode=exp", "lr_decay_mode"),
        ("momentum=1.5", "momentum"),
        ("loss_scale=0.5", "loss_scale"),
        ("loss_scale=auto", "loss_scale"),
    ],
)
def test_bad_values_are_named(override, key):
    with pytest.raises(ConfigError, match=key):
        load_config(DEMO_CONFIG, [override])


def test_cross_key_check():
    with pytest.raises(ConfigError, match="crop_aspect_min"):
        load_config(DEMO_CONFIG, ["crop_aspect_min=2.0", "crop_aspect_max=1.0"])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(str(tmp_path / "nope.yaml"))


def test_resolved_config_round_trips_with_same_hash(tmp_path):
    cfg = load_config(DEMO_CONFIG, ["seed=3"])
    out = tmp_path / "run" / "config.resolved.yaml"
    digest = write_resolved(cfg, str(out))
    again = load_config(str(out))
    assert again == cfg and again.sha256() == digest
    assert yaml.safe_load(out.read_text())["seed"] == 3
    assert not [n for n in os.listdir(out.parent) if ".tmp" in n]


def test_hash_changes_with_any_key():
    a = load_config(DEMO_CONFIG)
    assert a.sha256() != a.replace(learning_rate_maximum=0.2).sha256()


def test_block_steps_end_on_loop_multiples_and_cover_training():
    cfg = load_config(DEMO_CONFIG)
    assert cfg.steps_per_epoch == 1438 // 32
    assert cfg.block_steps[-1] == cfg.train_steps >= cfg.schedule_steps
    assert all(s % cfg.iterations_per_loop == 0 for s in cfg.block_steps)
    assert cfg.block_steps == sorted(set(cfg.block_steps))


def test_seed_recipe_step_counts():
    # 8 ranks x 32: 5004 steps per epoch, 600,480 schedule steps, run to 601,000
    # (the seed's figures)
    cfg = load_config([], ["rank_size=8", "batch_size=32", "num_epochs=120"])
    assert (
        cfg.steps_per_epoch == 5004 and cfg.schedule_steps == 600480 and cfg.train_steps == 601000
    )


def test_scientific_notation_is_a_number(tmp_path):
    path = tmp_path / "sci.yaml"
    path.write_text("learning_rate_end: 1e-6\n")
    cfg = load_config([DEMO_CONFIG, str(path)], ["dynamic_loss_scale_init=1E4"])
    assert cfg.learning_rate_end == 1e-6 and cfg.dynamic_loss_scale_init == 1e4
