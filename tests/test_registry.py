"""dagan_tf.data.registry: one entry per dataset_mode; one label-value rule (`LabelValues`) applied with NumPy
and with keras.ops (the preprocessor, in a graph); importing it loads no TensorFlow."""

import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest
import keras
import tensorflow as tf

from dagan_tf import config_checks
from dagan_tf.config import ConfigError, DAGANConfig, load_config
from dagan_tf.data import DATASET_MODES, DataError, registry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_FILE_VALUES = np.arange(256, dtype=np.uint8)


def mode_config(mode, **changes):
    values = {"dataset_mode": mode, "label_nc": 12, "no_instance": True, **changes}
    return DAGANConfig(**values)


def test_every_mode_has_one_entry_and_the_config_accepts_exactly_those():
    assert DATASET_MODES == config_checks.DATASET_MODES == registry.DATASET_MODES
    assert DATASET_MODES == ("cityscapes", "ade20k", "facades", "coco", "deepfashion", "custom", "demo")
    for mode in DATASET_MODES:
        entry = registry.get(mode)
        assert entry.name == mode and callable(entry.find)
        load_config(os.path.join(REPO, "configs", "coco.yaml"), {"dataset_mode": mode, "no_instance": True})
    assert [m for m in DATASET_MODES if not registry.get(m).has_instances] == ["ade20k"]


def test_an_unknown_mode_is_named_with_the_choices_and_a_suggestion():
    message = ("config key 'dataset_mode': unknown value 'cityscape'; choose one of cityscapes, ade20k, facades, "
               "coco, deepfashion, custom, demo. Did you mean 'cityscapes'?")
    with pytest.raises(DataError, match=f"^{re.escape(message)}$"):
        registry.get("cityscape")
    with pytest.raises(DataError, match=r"unknown value 'xyz'; choose one of .*demo\.$"):
        registry.dataset_files(types.SimpleNamespace(dataset_mode="xyz"), "train")  # configs validate first
    with pytest.raises(ConfigError, match="config key 'dataset_mode'.*'cityscape'.*Did you mean 'cityscapes'"):
        mode_config("cityscape")


def class_ids(values, cfg):
    return registry.label_values(cfg).class_ids(values, cfg.label_nc)


@pytest.mark.parametrize("mode", DATASET_MODES)
@pytest.mark.parametrize("dontcare", [True, False])
def test_numpy_and_graph_label_rules_agree_on_every_file_value(mode, dontcare):
    cfg = mode_config(mode, contain_dontcare_label=dontcare)
    rule = registry.label_values(cfg)
    numpy_ids = class_ids(ALL_FILE_VALUES, cfg)
    assert numpy_ids.dtype == np.int32
    for dtype in (tf.uint8, tf.int32):
        tf_ids = rule.class_ids(tf.constant(ALL_FILE_VALUES, dtype), cfg.label_nc, xp=keras.ops)
        assert tf_ids.dtype == tf.int32
        np.testing.assert_array_equal(tf_ids.numpy(), numpy_ids)
    in_graph = tf.function(lambda x: rule.class_ids(x, cfg.label_nc, xp=keras.ops))
    np.testing.assert_array_equal(in_graph(tf.constant(ALL_FILE_VALUES[None])).numpy()[0], numpy_ids)
    # and the inverse: every class id (and dontcare) round-trips through the file values
    ids = np.arange(cfg.label_nc + 1, dtype=np.int32)
    np.testing.assert_array_equal(class_ids(rule.file_values(ids, cfg.label_nc), cfg), ids)


def test_the_rules_themselves():
    plain, ade = mode_config("coco"), mode_config("ade20k")
    coco_ids = class_ids(ALL_FILE_VALUES, plain)
    np.testing.assert_array_equal(coco_ids[:255], np.arange(255))
    assert coco_ids[255] == 12
    ade_ids = class_ids(ALL_FILE_VALUES, ade)
    assert ade_ids[0] == 12 and ade_ids[255] == 12  # unlabeled and 255 -> label_nc
    np.testing.assert_array_equal(ade_ids[1:255], np.arange(254))
    np.testing.assert_array_equal(registry.label_values(plain).file_values([0, 11, 12], 12), [0, 11, 255])
    np.testing.assert_array_equal(registry.label_values(ade).file_values([0, 11, 12], 12), [1, 12, 0])
    # 16-bit label files keep their values
    np.testing.assert_array_equal(class_ids(np.array([300, 255], np.uint16), plain), [300, 12])


def test_valid_values_text():
    def text(cfg):
        return registry.label_values(cfg).valid_values_text(cfg.label_nc, cfg.contain_dontcare_label)

    assert text(mode_config("coco", contain_dontcare_label=True)) == "0..11, 12 or 255 = dontcare"
    assert text(mode_config("demo")) == "0..11"
    assert text(mode_config("ade20k")) == "1..12"
    # every file value that maps to label_nc is listed (13 - 1 = label_nc too)
    assert text(mode_config("ade20k", contain_dontcare_label=True)) == "1..12, 0, 13 or 255 = dontcare"


def test_importing_the_config_and_the_registry_loads_no_tensorflow():
    """`import dagan_tf.config` (and the registry it validates against) stays light; the package registers
    its Keras classes only once Keras itself is imported (test_package.py)."""
    code = ("import sys, dagan_tf, dagan_tf.config, dagan_tf.data.registry\n"
            "dagan_tf.config.load_config('demo')\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_class_names_where_known_and_the_custom_config_rule():
    names, things = registry.class_names(mode_config("cityscapes", label_nc=35))
    assert names[26] == "car" and "car" in things and "road" not in things
    names, things = registry.class_names(mode_config("custom", label_nc=8))
    assert names[:3] == ["sky", "cloud", "mountain"] and things == {"cloud", "tree"}
    assert registry.class_names(mode_config("cityscapes", label_nc=3)) == (["class 0", "class 1", "class 2"], set())
    with pytest.raises(ConfigError, match="custom mode with a label_dir needs an image_dir") as err:
        mode_config("custom", label_dir="labels")
    assert err.value.key == "image_dir"
    assert mode_config("facades", label_dir="labels").label_dir == "labels"  # only custom reads label_dir


def test_ade20k_without_no_instance_is_refused():
    with pytest.raises(DataError, match=r"^dataset_mode 'ade20k' has no instance maps: set no_instance: true$"):
        registry.dataset_files(mode_config("ade20k", no_instance=False), "train")
