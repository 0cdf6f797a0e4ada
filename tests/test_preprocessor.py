"""SemanticPreprocessor: file values -> class ids -> one-hot (+ dontcare) and instance edge map, against a
NumPy re-statement of docs/reference.md (exact: integer and 0/1 values)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dagan_tf.config import DAGANConfig
from dagan_tf.models.preprocessor import SemanticPreprocessor, instance_edge_map
from tests.helpers import assert_config_round_trip

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def numpy_edges(t):
    """The reference's get_edges: both sides of every horizontal and vertical id change."""
    edge = np.zeros(t.shape, bool)
    edge[:, :, 1:] |= t[:, :, 1:] != t[:, :, :-1]
    edge[:, :, :-1] |= t[:, :, 1:] != t[:, :, :-1]
    edge[:, 1:, :] |= t[:, 1:, :] != t[:, :-1, :]
    edge[:, :-1, :] |= t[:, 1:, :] != t[:, :-1, :]
    return edge.astype(np.float32)


def numpy_semantic_map(label, instance, cfg):
    one_hot = (label[..., None] == np.arange(cfg.num_classes)).astype(np.float32)
    if cfg.no_instance:
        return one_hot
    return np.concatenate([one_hot, numpy_edges(instance)[..., None]], axis=-1)


def semantic_map(label, instance, cfg, **kwargs):
    """The preprocessor of `cfg` on class ids (coco's rule: values are ids; 255 is dontcare)."""
    pre = SemanticPreprocessor.from_dagan_config(cfg, **kwargs)
    label = np.where(np.asarray(label) == cfg.label_nc, 255, label).astype(np.int32)
    return pre({"label": label, "instance": instance} if instance is not None else label)


def random_maps(rng, n, h, w, label_values, instance_ids):
    label = rng.integers(0, label_values, (n, h, w)).astype(np.int32)
    # Blocky instance ids, so that there are regions as well as boundaries.
    coarse = rng.integers(0, instance_ids, (n, (h + 3) // 4, (w + 3) // 4))
    instance = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)[:, :h, :w].astype(np.int32)
    return label, instance


def test_semantic_map_equals_numpy_restatement_with_dontcare_and_edges():
    rng = np.random.default_rng(0)
    cfg = DAGANConfig(label_nc=11, contain_dontcare_label=True, no_instance=False)
    label, instance = random_maps(rng, 3, 19, 26, cfg.label_nc + 1, 4)  # includes dontcare = label_nc
    instance[0, 5, 7] = 70000  # a 16/32-bit id
    out = np.asarray(semantic_map(tf.constant(label), tf.constant(instance), cfg))
    assert out.shape == (3, 19, 26, cfg.semantic_nc) == (3, 19, 26, 13) and out.dtype == np.float32
    np.testing.assert_array_equal(out, numpy_semantic_map(label, instance, cfg))
    assert out[..., -1].mean() > 0.1 and out[..., -1].mean() < 0.9  # the edge channel is informative
    assert (out[..., cfg.label_nc] == (label == cfg.label_nc)).all()  # dontcare has its own channel


def test_edge_map_brute_force_on_a_small_map():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 3, (1, 6, 7)).astype(np.int32)
    edge = np.asarray(instance_edge_map(tf.constant(t)))
    for y in range(6):
        for x in range(7):
            neighbours = [(y + dy, x + dx) for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0))
                          if 0 <= y + dy < 6 and 0 <= x + dx < 7]
            assert edge[0, y, x] == float(any(t[0, yy, xx] != t[0, y, x] for yy, xx in neighbours))


def test_no_instance_channel_layout_and_trailing_channel_axis():
    rng = np.random.default_rng(2)
    cfg = DAGANConfig(label_nc=5, contain_dontcare_label=False, no_instance=True)
    label, _ = random_maps(rng, 2, 8, 8, 5, 2)
    out = np.asarray(semantic_map(tf.constant(label[..., None]), None, cfg))
    assert out.shape == (2, 8, 8, 5)
    np.testing.assert_array_equal(out, numpy_semantic_map(label, None, cfg))
    assert (out.sum(-1) == 1).all()


def test_integer_one_hot_gives_the_same_map_for_both_layouts():
    """integer_one_hot (the TFLite export builds the one-hot as a comparison) equals the float map,
    out-of-range ids included (all-zero rows)."""
    rng = np.random.default_rng(5)
    for no_instance in (True, False):
        cfg = DAGANConfig(label_nc=7, contain_dontcare_label=True, no_instance=no_instance)
        label, instance = random_maps(rng, 2, 9, 11, cfg.label_nc + 3, 3)  # ids 8, 9: no class
        inst = None if no_instance else tf.constant(instance)
        as_int = np.asarray(semantic_map(tf.constant(label), inst, cfg, integer_one_hot=True))
        assert as_int.dtype == np.float32
        np.testing.assert_array_equal(as_int, numpy_semantic_map(label, None if no_instance else instance, cfg))
        assert (as_int[label >= cfg.num_classes][:, :cfg.num_classes] == 0).all()


def test_missing_instance_is_a_trace_time_error():
    cfg = DAGANConfig(label_nc=5, no_instance=False)
    with pytest.raises(ValueError, match="no_instance is false"):
        semantic_map(tf.zeros((1, 4, 4), tf.int32), None, cfg)


def test_runs_in_a_graph_with_unknown_sizes():
    cfg = DAGANConfig(label_nc=4, contain_dontcare_label=True, no_instance=False)

    pre = SemanticPreprocessor.from_dagan_config(cfg)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.int32)] * 2)
    def serve(label, instance):
        return pre({"label": tf.where(label == cfg.label_nc, 255, label), "instance": instance})

    rng = np.random.default_rng(3)
    for h, w in ((5, 9), (12, 4)):
        label, instance = random_maps(rng, 2, h, w, 5, 3)
        np.testing.assert_array_equal(serve(label, instance).numpy(), numpy_semantic_map(label, instance, cfg))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_keras_backends(backend, tmp_path):
    """keras.ops only: the same numbers under JAX and torch."""
    code = (
        "import numpy as np, keras\n"
        "from dagan_tf.models.preprocessor import SemanticPreprocessor\n"
        f"assert keras.backend.backend() == '{backend}'\n"
        "rng = np.random.default_rng(0)\n"
        "label = rng.integers(0, 4, (2, 6, 7)).astype('int32'); inst = rng.integers(0, 3, (2, 6, 7)).astype('int32')\n"
        "label[label == 3] = 255\n"
        "pre = SemanticPreprocessor(3, contain_dontcare_label=True, no_instance=False)\n"
        "out = keras.ops.convert_to_numpy(pre({'label': label, 'instance': inst}))\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, out)\n"
    )
    env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
    # Only the preprocessor and the registry are needed: import them without the packages' __init__.
    result = subprocess.run([sys.executable, "-c", _standalone(code)], capture_output=True, env=env, cwd=REPO,
                            timeout=240)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    out = np.load(tmp_path / "out.npy")
    rng = np.random.default_rng(0)
    label = rng.integers(0, 4, (2, 6, 7)).astype("int32")
    inst = rng.integers(0, 3, (2, 6, 7)).astype("int32")
    expected = numpy_semantic_map(label, inst, DAGANConfig(label_nc=3, contain_dontcare_label=True))
    np.testing.assert_array_equal(out, expected)


def _standalone(code):
    """Load dagan_tf.models.preprocessor as a module of bare `dagan_tf` / `dagan_tf.models` packages
    (their __init__ would build every network with TensorFlow)."""
    prelude = "import sys, types\n"
    for name, folder in (("dagan_tf", "dagan_tf"), ("dagan_tf.models", os.path.join("dagan_tf", "models"))):
        prelude += (f"pkg = types.ModuleType({name!r}); pkg.__path__ = [{os.path.join(REPO, folder)!r}]\n"
                    f"sys.modules[{name!r}] = pkg\n")
    return prelude + code


@pytest.mark.parametrize("dataset_mode, values, ids", [
    ("coco", [0, 4, 11, 255], [0, 4, 11, 12]),       # 255 -> label_nc (dontcare)
    ("ade20k", [0, 1, 12, 255], [12, 0, 11, 12]),    # v - 1; 0 (unlabeled) and 255 -> label_nc
])
def test_file_values_become_class_ids_by_the_dataset_rule(dataset_mode, values, ids):
    cfg = DAGANConfig(dataset_mode=dataset_mode, label_nc=12, contain_dontcare_label=True, no_instance=True)
    pre = SemanticPreprocessor.from_dagan_config(cfg)
    label = np.array([[values]], np.int32)
    np.testing.assert_array_equal(np.asarray(pre.class_ids(label)), [[ids]])
    np.testing.assert_array_equal(np.asarray(pre(label)).argmax(-1), [[ids]])
    assert pre.semantic_nc == 13


def test_get_config_round_trip():
    label = np.array([[[1, 2], [255, 0]]], np.int32)
    assert_config_round_trip(SemanticPreprocessor, dict(label_nc=5, contain_dontcare_label=True, no_instance=False,
                                                        label_shift=1, dontcare_values=(0, 250),
                                                        integer_one_hot=True),
                             inputs={"label": label, "instance": label})
