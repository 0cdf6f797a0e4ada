"""The one serving function every export format is built from: the `Synthesizer` under named inputs.

A deployed generator takes what a client naturally has and returns what it wants:

- `label` `(batch, H, W)` int32 (a second SavedModel signature takes uint8): the label map's
  *file values*, as the PNG stores them. They become class ids in the graph (the Synthesizer's
  `SemanticPreprocessor`): 255 -> `label_nc` (dontcare); ADE20K files are shifted by one and
  0 (unlabeled) -> `label_nc`.
- `instance` `(batch, H, W)` int32, only when the config uses instances (`no_instance: false`).
- `seed` `(batch,)` int32, only with `use_vae`: each sample's z ~ N(0, 1) is drawn from its seed
  (`seeded_normal`, identical in the SavedModel, TFLite and ONNX).
- output `image` `(batch, H, W, 3)` uint8 = clip(round((g + 1) * 127.5), 0, 255).

`(H, W)` is the generator's `image_hw`. With `validate=True` (the SavedModel) the spatial sizes of the
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

import keras
import tensorflow as tf

from dagan_tf.config import DAGANConfig
from dagan_tf.models.preprocessor import SemanticPreprocessor
from dagan_tf.models.synthesizer import Synthesizer, to_uint8_rounded

__all__ = [
    "IMAGE",
    "INSTANCE",
    "LABEL",
    "SEED",
    "SEMANTIC_MAP",
    "Z",
    "build_semantic_map_function",
    "build_serving_function",
    "load_synthesizer",
    "serving_archive",
    "serving_input_specs",
    "with_integer_one_hot",
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

def load_synthesizer(checkpoint, config: DAGANConfig) -> Synthesizer:
    """The Synthesizer of a generator: a `.keras` file, run folder or shipped name
    (`Synthesizer.from_preset`), or an in-memory generator keras.Model, checked against `config`.

    Raises FileNotFoundError for a missing file, CheckpointError (a ValueError) naming the file when it
    is no valid `.keras` file or holds another network, and ValueError naming the file and the config
    keys when the model's inputs do not fit the config (size, semantic_nc, use_vae).
    """
    if isinstance(checkpoint, Synthesizer):
        return checkpoint
    if isinstance(checkpoint, keras.Model):
        from dagan_tf.models.loading import check_generator_fits

        check_generator_fits(checkpoint, config, f"model {checkpoint.name!r}")
        return Synthesizer(checkpoint, SemanticPreprocessor.from_dagan_config(config))
    return Synthesizer.from_preset(checkpoint, config=config, purpose="export")


def with_integer_one_hot(synthesizer: Synthesizer) -> Synthesizer:
    """The same networks with the preprocessor's integer one-hot (TFLite's int8 quantizer breaks a
    float ONE_HOT; the integer one stays exact and only its cast to float is quantized)."""
    config = {**synthesizer.preprocessor.get_config(), "integer_one_hot": True}
    return Synthesizer(synthesizer.generator, SemanticPreprocessor.from_config(config))


def serving_input_specs(synthesizer: Synthesizer, *, label_dtype=tf.int32, fixed_size: bool = True) -> list:
    """The serving function's input signature, in order: label[, instance][, seed].

    `fixed_size=True`: `(None, H, W)` (TFLite, ONNX); False: `(None, None, None)` (checked in the graph).
    """
    hw = list(synthesizer.image_hw) if fixed_size else [None, None]
    specs = [tf.TensorSpec([None] + hw, tf.as_dtype(label_dtype), name=LABEL)]
    if not synthesizer.no_instance:
        specs.append(tf.TensorSpec([None] + hw, tf.int32, name=INSTANCE))
    if synthesizer.use_vae:
        specs.append(tf.TensorSpec([None], tf.int32, name=SEED))
    return specs


def _assert_map_shape(name: str, tensor, image_hw) -> list:
    """Assert ops: `tensor` is `(batch >= 1, H, W)`, each failure a message naming the input.

    The signature declares rank 3, but TensorFlow feeds whatever arrives (TF Serving and the loaded
    signature alike check only the dtype): the rank is checked from the runtime shape, and everything
    else runs after that check (a rank-4 label would otherwise fail inside an op with an internal error).
    """
    h, w = image_hw
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


def _input_checks(inputs: dict, synthesizer: Synthesizer) -> list:
    """Assert ops: rank, batch and sizes of every input, and label values that are classes (module docstring)."""
    label, instance, seed = inputs[LABEL], inputs.get(INSTANCE), inputs.get(SEED)
    checks = _assert_map_shape(LABEL, label, synthesizer.image_hw)
    batch = tf.shape(label)[0]
    if instance is not None:
        checks += _assert_map_shape(INSTANCE, instance, synthesizer.image_hw)
        checks.append(tf.debugging.Assert(
            tf.equal(tf.shape(instance)[0], batch),
            [f"input `{INSTANCE}` must have the batch size of `{LABEL}`; got", tf.shape(instance)[0],
             "and", batch], name="check_instance_batch"))
    if seed is not None:
        checks.append(tf.debugging.Assert(
            tf.equal(tf.shape(seed)[0], batch),
            [f"input `{SEED}` must hold one int32 seed per label map ({LABEL} batch size); got", tf.shape(seed)[0],
             "seeds for", batch, "label maps"], name="check_seed_batch"))
    pre = synthesizer.preprocessor
    with tf.control_dependencies(checks):  # values only once the shapes are known to be right
        ids = pre.class_ids(label)
        valid = tf.logical_and(ids >= 0, ids < pre.num_classes)
        bad_values = tf.unique(tf.reshape(tf.boolean_mask(tf.cast(label, tf.int32), tf.logical_not(valid)), [-1]))[0]
        valid_text = pre.rule.valid_values_text(pre.label_nc, pre.contain_dontcare_label)
        checks.append(tf.debugging.Assert(
            tf.reduce_all(valid),
            [f"input `{LABEL}` holds values that are not classes of this model (label_nc={pre.label_nc}: "
             f"valid values {valid_text}); bad values:", bad_values],
            summarize=16, name="check_label_values"))
    return checks


def _with_parameters(fn, names):
    """Give a `*args` function named parameters, so its tf.function is callable with keywords."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    fn.__signature__ = inspect.Signature([inspect.Parameter(n, kind) for n in names])
    return fn


def build_serving_function(synthesizer: Synthesizer, *, validate: bool = True,
                           label_dtype=tf.int32) -> tf.types.experimental.GenericFunction:
    """The serving tf.function: label[, instance][, seed] -> {'image': uint8 (batch, H, W, 3)}, the
    Synthesizer's call under named arguments.

    Inputs and outputs as the module docstring; `validate=True` adds the input checks (SavedModel),
    `validate=False` gives the fixed-size, assert-free variant TFLite and ONNX convert.
    Keras' `ExportArchive` saves it with the variables (`serving_archive`).
    """
    h, w = synthesizer.image_hw
    specs = serving_input_specs(synthesizer, fixed_size=not validate)
    names = [s.name for s in specs]

    def serve(*args):
        inputs = dict(zip(names, args))
        if validate:
            # every input waits for every check, so a bad size is reported by its check, not by a
            # shape error deeper in the graph
            with tf.control_dependencies(_input_checks(inputs, synthesizer)):
                inputs = {name: tf.identity(value) for name, value in inputs.items()}
            # the checks passed: give the generator its static size back
            for name in (LABEL, INSTANCE):
                if name in inputs:
                    inputs[name] = tf.ensure_shape(inputs[name], [None, h, w])
        return {IMAGE: synthesizer(inputs, training=False)}

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


def build_semantic_map_function(synthesizer: Synthesizer) -> tf.types.experimental.GenericFunction:
    """Research signature: semantic_map float32 `(batch, H, W, semantic_nc)` [, z float32 `(batch, z_dim)`]
    -> {'image': uint8 (batch, H, W, 3), 'image_float': float32 in [-1, 1]}: the generator behind the
    preprocessor."""
    h, w = synthesizer.image_hw
    specs = [tf.TensorSpec([None, h, w, synthesizer.preprocessor.semantic_nc], tf.float32, name=SEMANTIC_MAP)]
    if synthesizer.use_vae:
        specs.append(tf.TensorSpec([None, synthesizer.z_dim], tf.float32, name=Z))

    def semantic_map(*args):
        inputs = list(args) if synthesizer.use_vae else args[0]
        image = tf.cast(synthesizer.generator(inputs, training=False), tf.float32)
        return {IMAGE: to_uint8_rounded(image), IMAGE_FLOAT: image}

    names = [s.name for s in specs]
    return tf.function(_with_parameters(semantic_map, names), input_signature=specs, autograph=False)


def serving_archive(synthesizer: Synthesizer) -> "keras.export.ExportArchive":
    """Keras' `ExportArchive` of the SavedModel for TF Serving: the Synthesizer's variables and the
    signatures `serving_default` (label int32, with the input checks), `serving_uint8` (label uint8)
    and `semantic_map` (float one-hot input). `archive.write_out(path)` writes it."""
    archive = keras.export.ExportArchive()
    archive.track(synthesizer)
    serve = build_serving_function(synthesizer, validate=True)
    archive.add_endpoint("serving_default", serve)
    archive.add_endpoint("serving_uint8", with_label_dtype(serve, tf.uint8))
    archive.add_endpoint("semantic_map", build_semantic_map_function(synthesizer))
    return archive
