"""The one serving function every export format is built from.

A deployed generator takes what a client naturally has and returns what it wants:

- `label` `(batch, H, W)` int32 (a second SavedModel signature takes uint8): the label map's
  *file values*, as the PNG stores them. They become class ids in the graph with the data
  pipeline's rule (`dagan_tf.data.map_label_values`): 255 -> `label_nc` (dontcare); ADE20K files
  are shifted by one and 0 (unlabeled) -> `label_nc`.
- `instance` `(batch, H, W)` int32, only when the config uses instances (`no_instance: false`).
- `seed` `(batch,)` int32, only with `use_vae`: each sample's z ~ N(0, 1) is drawn from its seed
  (`seeded_normal`, identical in the SavedModel, TFLite and ONNX).
- output `image` `(batch, H, W, 3)` uint8 = clip(round((g + 1) * 127.5), 0, 255).

`(H, W)` is `config.image_hw`. With `validate=True` (the SavedModel) the spatial sizes of the
signature are left open so that a wrong size reaches the graph's own check, which fails the request
with a message naming the input and the bad shape or label values; a wrong rank (a channel axis, a
missing batch axis) and a batch of 0 are refused the same way. The dtype is the signature's: TensorFlow
refuses a float label before the graph runs (int32 expected) (a placeholder of fixed shape
would let TF Serving feed a wrong size straight into the convolutions). TFLite and ONNX have no
assert op: their variants are built with `validate=False` (fixed `(batch, H, W)` inputs, no checks;
an out-of-range label gives an all-zero one-hot at that pixel).
"""

from __future__ import annotations

import inspect
import os

import keras
import numpy as np
import tensorflow as tf

from dagan_tf.config import DAGANConfig
from dagan_tf.data import registry as dataset_registry
from dagan_tf.models.loading import check_generator_fits, load_network
from dagan_tf.semantic import semantic_map as build_semantic_map

__all__ = [
    "IMAGE",
    "INSTANCE",
    "LABEL",
    "SEED",
    "SEMANTIC_MAP",
    "Z",
    "ServingModule",
    "build_semantic_map_function",
    "build_serving_function",
    "class_ids_from_label_values",
    "label_values_from_class_ids",
    "load_generator",
    "seeded_normal",
    "serving_input_specs",
    "to_uint8_rounded",
    "with_label_dtype",
]

# Signature input / output names (what `saved_model_cli show` lists and clients send).
LABEL = "label"
INSTANCE = "instance"
SEED = "seed"
IMAGE = "image"
SEMANTIC_MAP = "semantic_map"
Z = "z"
IMAGE_FLOAT = "image_float"

#: MINSTD (Park-Miller) multiplicative congruential generator: x <- A * x mod M.
_MINSTD_A = 48271
_MINSTD_M = 2**31 - 1


def load_generator(checkpoint, config: DAGANConfig) -> keras.Model:
    """A generator `.keras` file (or an in-memory keras.Model), checked against `config`.

    Raises FileNotFoundError for a missing file, CheckpointError (a ValueError) naming the file when it
    is no valid `.keras` file or holds another network (`dagan_tf.models.load_network`), and ValueError
    naming the file and the config keys when the model's inputs do not fit the config (size,
    semantic_nc, use_vae).
    """
    if isinstance(checkpoint, keras.Model):
        model, where = checkpoint, f"model {checkpoint.name!r}"
    else:
        path = os.fspath(checkpoint)
        model, where = load_network(path, "generator", purpose="export"), f"generator checkpoint {path}"
    check_generator_fits(model, config, where)
    return model


def serving_input_specs(config: DAGANConfig, *, label_dtype=tf.int32, fixed_size: bool = True) -> list:
    """The serving function's input signature, in order: label[, instance][, seed].

    `fixed_size=True`: `(None, H, W)` (TFLite, ONNX); False: `(None, None, None)` (checked in the graph).
    """
    hw = list(config.image_hw) if fixed_size else [None, None]
    specs = [tf.TensorSpec([None] + hw, tf.as_dtype(label_dtype), name=LABEL)]
    if not config.no_instance:
        specs.append(tf.TensorSpec([None] + hw, tf.int32, name=INSTANCE))
    if config.use_vae:
        specs.append(tf.TensorSpec([None], tf.int32, name=SEED))
    return specs


def class_ids_from_label_values(label, config: DAGANConfig):
    """Label-file values `(batch, H, W)` -> class ids int32, as `dagan_tf.data.map_label_values`.

    255 -> `label_nc`; ADE20K: v - 1, and 0 (unlabeled) -> `label_nc`. With
    `contain_dontcare_label`, `label_nc` is the dontcare channel; otherwise it is out of range.
    The dataset registry's rule (`dagan_tf.data.registry`), the same definition the data pipeline applies.
    """
    return dataset_registry.map_label_values_tf(label, config)


def label_values_from_class_ids(ids, config: DAGANConfig) -> np.ndarray:
    """Class ids (NumPy, as the data pipeline yields them) -> the label-file values clients send.

    The inverse of `class_ids_from_label_values`: `label_nc` -> 255 (ADE20K: -> 0), ADE20K ids + 1.
    """
    return dataset_registry.label_values_from_class_ids(ids, config)


def _valid_values_text(config: DAGANConfig) -> str:
    return dataset_registry.valid_values_text(config)


def _assert_map_shape(name: str, tensor, config: DAGANConfig) -> list:
    """Assert ops: `tensor` is `(batch >= 1, H, W)`, each failure a message naming the input.

    The signature declares rank 3, but TensorFlow feeds whatever arrives (TF Serving and the loaded
    signature alike check only the dtype): the rank is checked from the runtime shape, and everything
    else runs after that check (a rank-4 label would otherwise fail inside an op with an internal error).
    """
    h, w = config.image_hw
    # The runtime shape with its length hidden from shape inference: `tf.size(tf.shape(x))` would be
    # folded to the declared rank 3 by Grappler, and the check with it.
    shape = tf.boolean_mask(tf.shape(tensor), tf.shape(tensor) >= 0)
    rank_ok = tf.debugging.Assert(
        tf.equal(tf.size(shape), 3),
        [f"input `{name}` must have rank 3, (batch, {h}, {w}): one integer map per example, no channel axis; "
         "got shape", shape], summarize=8, name=f"check_{name}_rank")
    with tf.control_dependencies([rank_ok]):
        padded = tf.concat([shape, tf.zeros([3], tf.int32)], 0)  # any rank: safe to index 0..2
        size_ok = tf.debugging.Assert(
            tf.reduce_all(tf.equal(padded[1:3], [h, w])),
            [f"input `{name}` must have shape (batch, {h}, {w}) (image_hw of its config); got shape", shape],
            summarize=8, name=f"check_{name}_shape")
        batch_ok = tf.debugging.Assert(
            padded[0] >= 1, [f"input `{name}` holds a batch of 0 maps; send at least one (shape", shape, ")"],
            name=f"check_{name}_batch")
    return [rank_ok, size_ok, batch_ok]


def _input_checks(label, instance, seed, config: DAGANConfig) -> list:
    """Assert ops: rank, batch and sizes of every input, and label values that are classes (module docstring)."""
    checks = _assert_map_shape(LABEL, label, config)
    batch = tf.shape(label)[0]
    if instance is not None:
        checks += _assert_map_shape(INSTANCE, instance, config)
        checks.append(tf.debugging.Assert(
            tf.equal(tf.shape(instance)[0], batch),
            [f"input `{INSTANCE}` must have the batch size of `{LABEL}`; got", tf.shape(instance)[0],
             "and", batch], name="check_instance_batch"))
    if seed is not None:
        checks.append(tf.debugging.Assert(
            tf.equal(tf.shape(seed)[0], batch),
            [f"input `{SEED}` must hold one int32 seed per label map ({LABEL} batch size); got", tf.shape(seed)[0],
             "seeds for", batch, "label maps"], name="check_seed_batch"))
    with tf.control_dependencies(checks):  # values only once the shapes are known to be right
        ids = class_ids_from_label_values(label, config)
        valid = tf.logical_and(ids >= 0, ids < config.num_classes)
        bad_values = tf.unique(tf.reshape(tf.boolean_mask(tf.cast(label, tf.int32), tf.logical_not(valid)), [-1]))[0]
        checks.append(tf.debugging.Assert(
            tf.reduce_all(valid),
            [f"input `{LABEL}` holds values that are not classes of this model (label_nc={config.label_nc}: "
             f"valid values {_valid_values_text(config)}); bad values:", bad_values],
            summarize=16, name="check_label_values"))
    return checks


def seeded_normal(seed, dim: int):
    """z `(batch, dim)` float32 ~ N(0, 1), a pure function of each int32 `seed` `(batch,)`.

    The MINSTD sequence started at `1 + seed mod (M - 1)` gives 2 * dim uniforms in (0, 1) (its
    k-th state is `A**k * x0 mod M`, A**k precomputed); Box-Muller turns pairs into normals. Only
    integer multiply / modulo and float log, sqrt, cos: builtin ops in TFLite and ONNX, so every
    format draws the same z from the same seed (tf.random.stateless_normal does not convert to TFLite).
    """
    powers = np.array([pow(_MINSTD_A, k, _MINSTD_M) for k in range(1, 2 * dim + 1)], np.int64)
    x0 = 1 + tf.math.floormod(tf.cast(seed, tf.int64), _MINSTD_M - 1)
    states = tf.math.floormod(x0[:, None] * tf.constant(powers)[None, :], _MINSTD_M)
    # uniform = states / 2**31 in (0, 1]. Scaled by 2**-8 four times (the last 2**-7) so that every
    # float constant is a normal float16 (the fp16 TFLite variant stores constants as float16);
    # powers of two keep the result exact. (Integer division is no TFLite builtin for int64.)
    uniform = tf.cast(states, tf.float32)
    for step in (2.0**-8, 2.0**-8, 2.0**-8, 2.0**-7):
        uniform = uniform * step
    u1, u2 = uniform[:, 0::2], uniform[:, 1::2]
    return tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos((2.0 * np.pi) * u2)


def to_uint8_rounded(image):
    """Generator output `(batch, H, W, 3)` in [-1, 1] -> uint8 = clip(round((g + 1) * 127.5), 0, 255).

    Rounds to nearest, unlike the reference's truncating `tensor2im` (`visualize.to_uint8_truncated`,
    kept for results pages and FID): every export format computes exactly this."""
    scaled = tf.round((tf.cast(image, tf.float32) + 1.0) * 127.5)
    return tf.cast(tf.clip_by_value(scaled, 0.0, 255.0), tf.uint8)


def _generate(generator: keras.Model, config: DAGANConfig, seg, z):
    inputs = [seg, z] if config.use_vae else seg
    return generator(inputs, training=False)


def _with_parameters(fn, names):
    """Give a `*args` function named parameters, so its tf.function is callable with keywords."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    fn.__signature__ = inspect.Signature([inspect.Parameter(n, kind) for n in names])
    return fn


def build_serving_function(generator: keras.Model, config: DAGANConfig, *, validate: bool = True,
                           label_dtype=tf.int32, semantic_dtype: str = "float32") -> tf.types.experimental.GenericFunction:
    """The serving tf.function: label[, instance][, seed] -> {'image': uint8 (batch, H, W, 3)}.

    Inputs and outputs as the module docstring; `validate=True` adds the input checks (SavedModel),
    `validate=False` gives the fixed-size, assert-free variant TFLite and ONNX convert.
    `semantic_dtype`: the dtype the one-hot and edge map are built in before the cast to float32
    ('int32' for TFLite, whose int8 quantizer breaks a float ONE_HOT; tf2onnx only converts a float one).
    Save it through a tf.Module that tracks the generator's variables (ServingModule).
    """
    h, w = config.image_hw
    specs = serving_input_specs(config, fixed_size=not validate)
    names = [s.name for s in specs]

    def serve(*args):
        inputs = dict(zip(names, args))
        label, instance, seed = inputs[LABEL], inputs.get(INSTANCE), inputs.get(SEED)
        if validate:
            # every input waits for every check, so a bad size is reported by its check, not by a
            # shape error deeper in the graph
            with tf.control_dependencies(_input_checks(label, instance, seed, config)):
                label = tf.identity(label)
                instance = None if instance is None else tf.identity(instance)
                seed = None if seed is None else tf.identity(seed)
            # the checks passed: give the generator its static size back
            label = tf.ensure_shape(label, [None, h, w])
            if instance is not None:
                instance = tf.ensure_shape(instance, [None, h, w])
        ids = class_ids_from_label_values(label, config)
        seg = tf.cast(build_semantic_map(ids, instance, config, dtype=semantic_dtype), tf.float32)
        z = seeded_normal(seed, config.z_dim) if config.use_vae else None
        return {IMAGE: to_uint8_rounded(_generate(generator, config, seg, z))}

    int32_serve = tf.function(_with_parameters(serve, names), input_signature=specs, autograph=False)
    if tf.as_dtype(label_dtype) == tf.int32:
        return int32_serve
    return with_label_dtype(int32_serve, label_dtype)


def with_label_dtype(int32_serve, label_dtype) -> tf.types.experimental.GenericFunction:
    """The serving function for another label dtype (e.g. uint8): casts and calls `int32_serve`,
    so the generator's graph is traced once for both."""
    specs = list(int32_serve.input_signature)
    specs[0] = tf.TensorSpec(specs[0].shape, tf.as_dtype(label_dtype), name=specs[0].name)

    def serve_cast(*args):
        return int32_serve(tf.cast(args[0], tf.int32), *args[1:])

    return tf.function(_with_parameters(serve_cast, [s.name for s in specs]), input_signature=specs, autograph=False)


def build_semantic_map_function(generator: keras.Model, config: DAGANConfig) -> tf.types.experimental.GenericFunction:
    """Research signature: semantic_map float32 `(batch, H, W, semantic_nc)` [, z float32 `(batch, z_dim)`]
    -> {'image': uint8 (batch, H, W, 3), 'image_float': float32 in [-1, 1]}."""
    h, w = config.image_hw
    specs = [tf.TensorSpec([None, h, w, config.semantic_nc], tf.float32, name=SEMANTIC_MAP)]
    if config.use_vae:
        specs.append(tf.TensorSpec([None, config.z_dim], tf.float32, name=Z))

    def semantic_map(*args):
        seg, z = args[0], (args[1] if config.use_vae else None)
        image = _generate(generator, config, seg, z)
        return {IMAGE: to_uint8_rounded(image), IMAGE_FLOAT: tf.cast(image, tf.float32)}

    names = [s.name for s in specs]
    return tf.function(_with_parameters(semantic_map, names), input_signature=specs, autograph=False)


class ServingModule(tf.Module):
    """Holds the generator (so tf.saved_model.save tracks its variables) and the serving functions.

    `signatures()` -> {'serving_default': label int32, 'serving_uint8': label uint8,
    'semantic_map': float one-hot input}.
    """

    def __init__(self, generator: keras.Model, config: DAGANConfig, validate: bool = True):
        super().__init__(name="dagan_serving")
        # Track the variables, not the Keras model: saving then writes the weights and the serving
        # graphs only (tracking the model makes tf.saved_model.save trace every layer again, 2x slower).
        self.generator_variables = list(generator.weights)
        self.serve = build_serving_function(generator, config, validate=validate)
        self.serve_uint8 = with_label_dtype(self.serve, tf.uint8)
        self.semantic_map = build_semantic_map_function(generator, config)

    def signatures(self) -> dict:
        return {
            "serving_default": self.serve.get_concrete_function(),
            "serving_uint8": self.serve_uint8.get_concrete_function(),
            "semantic_map": self.semantic_map.get_concrete_function(),
        }
