"""The front door: a label map as its file stores it in, the photo out, as one Keras model.

    synth = Synthesizer.from_preset("demo")                # or "run/latest_net_G.keras", or a run folder
    photo = synth({"label": values, "instance": ids})      # uint8 (N, H, W, 3)
    synth.export("demo.tflite", format="litert")           # Keras' export; dagan_tf.export adds the rest

`Synthesizer` = `SemanticPreprocessor` (file values -> one-hot + edges) + the generator (+ z from a
seed with `use_vae`) + the conversion to uint8. Inputs, a dict:
- `label` int32 `(N, H, W)`: the label map's file values (255 = dontcare; ADE20K 0 = unlabeled);
- `instance` int32 `(N, H, W)`: instance ids, only where the generator uses them (`no_instance: false`);
- `seed` int32 `(N,)` with `use_vae`: each sample's z ~ N(0, 1) drawn from its seed (`seeded_normal`,
  identical in every export format), or `z` float32 `(N, z_dim)` given directly (an encoder's code).
Output: uint8 `(N, H, W, 3)` = clip(round((g + 1) * 127.5), 0, 255); `float_images` gives g in [-1, 1].
`(H, W)` is the generator's `image_hw`.

`export(path, format="tf_saved_model" | "litert" | "onnx")` is Keras' own `Model.export`, with the
deployment contract as its defaults: inputs `label` [, `instance`] [, `seed`] int32 `(batch, H, W)`
(`batch` None or fixed), output `image` uint8 (every artefact names it so).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from dagan_tf.models.loading import check_generator_fits, generator_file, load_network
from dagan_tf.models.preprocessor import SemanticPreprocessor

__all__ = ["Synthesizer", "example_inputs", "seeded_normal", "to_uint8_rounded"]

#: MINSTD (Park-Miller) multiplicative congruential generator: x <- A * x mod M.
_MINSTD_A = 48271
_MINSTD_M = 2**31 - 1


def seeded_normal(seed, dim: int):
    """z `(batch, dim)` float32 ~ N(0, 1), a pure function of each int32 `seed` `(batch,)`.

    The MINSTD sequence started at `1 + seed mod (M - 1)` gives 2 * dim uniforms in (0, 1) (its
    k-th state is `A**k * x0 mod M`, A**k precomputed); Box-Muller turns pairs into normals. Only
    integer multiply / modulo and float log, sqrt, cos: builtin ops in TFLite and ONNX, so every
    format draws the same z from the same seed (stateless random ops do not convert to TFLite).
    """
    powers = np.array([pow(_MINSTD_A, k, _MINSTD_M) for k in range(1, 2 * dim + 1)], np.int64)
    x0 = 1 + ops.mod(ops.cast(seed, "int64"), _MINSTD_M - 1)
    states = ops.mod(ops.expand_dims(x0, 1) * ops.expand_dims(ops.convert_to_tensor(powers), 0), _MINSTD_M)
    # uniform = states / 2**31 in (0, 1]. Scaled by 2**-8 four times (the last 2**-7) so that every
    # float constant is a normal float16 (the fp16 TFLite variant stores constants as float16);
    # powers of two keep the result exact. (Integer division is no TFLite builtin for int64.)
    uniform = ops.cast(states, "float32")
    for step in (2.0**-8, 2.0**-8, 2.0**-8, 2.0**-7):
        uniform = uniform * step
    u1, u2 = uniform[:, 0::2], uniform[:, 1::2]
    return ops.sqrt(-2.0 * ops.log(u1)) * ops.cos((2.0 * np.pi) * u2)


def to_uint8_rounded(image):
    """Generator output `(batch, H, W, 3)` in [-1, 1] -> uint8 = clip(round((g + 1) * 127.5), 0, 255).

    Rounds to nearest, unlike the reference's truncating `tensor2im` (`visualize.to_uint8_truncated`,
    kept for results pages and FID): every export format computes exactly this."""
    scaled = ops.round((ops.cast(image, "float32") + 1.0) * 127.5)
    return ops.cast(ops.clip(scaled, 0.0, 255.0), "uint8")


@keras.saving.register_keras_serializable(package="dagan_tf")
class Synthesizer(keras.Model):
    """Label file values (+ instance ids, + a seed or z with `use_vae`) -> uint8 photos (module docstring).

    Args:
        generator: a DAGAN generator (`models.DAGANGenerator`, or a `.keras` one loaded by `load_network`).
        preprocessor: its `SemanticPreprocessor`. Defaults to the one of `generator.dagan_config`.
    """

    def __init__(self, generator: keras.Model, preprocessor: SemanticPreprocessor | None = None, **kwargs):
        kwargs.setdefault("name", "dagan_synthesizer")
        super().__init__(**kwargs)
        if preprocessor is None:
            preprocessor = SemanticPreprocessor.from_dagan_config(generator.dagan_config)
        self.generator = generator
        self.preprocessor = preprocessor
        self.built = True  # the generator is built; the preprocessor has no weights
        seg_shape = tuple(generator.inputs[0].shape)
        self.image_hw = (int(seg_shape[1]), int(seg_shape[2]))
        self.use_vae = len(generator.inputs) == 2
        self.z_dim = int(generator.inputs[1].shape[-1]) if self.use_vae else 0
        if seg_shape[-1] != preprocessor.semantic_nc:
            raise ValueError(f"generator {generator.name!r} takes {seg_shape[-1]} semantic channels but the "
                             f"preprocessor makes {preprocessor.semantic_nc}")

    # --------------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, preset, config=None, purpose: str = "", **kwargs) -> "Synthesizer":
        """A Synthesizer for a shipped model's name ('demo'), a generator `.keras` file, or a run folder
        (its `latest_net_G.keras`). `config`: for `.keras` files saved without their config (dagan-tf
        0.1), the config the generator was trained with; checked against the generator's inputs.
        `purpose`: what needs it, for the message when the file holds another network ('export')."""
        path = generator_file(preset)
        generator = load_network(path, "generator", purpose=purpose)
        config = config if config is not None else getattr(generator, "dagan_config", None)
        if config is None:
            from dagan_tf.config import ConfigError

            raise ConfigError(f"{path} was saved without its config (an older file): pass the config it was "
                              "trained with (Synthesizer.from_preset(path, config=...), or --config)")
        check_generator_fits(generator, config, f"generator checkpoint {path}")
        return cls(generator, SemanticPreprocessor.from_dagan_config(config), **kwargs)

    @property
    def label_nc(self) -> int:
        return self.preprocessor.label_nc

    @property
    def no_instance(self) -> bool:
        return self.preprocessor.no_instance

    def input_specs(self, batch: int | None = None, label_dtype="int32") -> dict:
        """The inputs as `keras.InputSpec`s by name (fixed `(H, W)`; `batch` None = any)."""
        h, w = self.image_hw
        specs = {"label": keras.InputSpec(shape=(batch, h, w), dtype=label_dtype, name="label")}
        if not self.no_instance:
            specs["instance"] = keras.InputSpec(shape=(batch, h, w), dtype="int32", name="instance")
        if self.use_vae:
            specs["seed"] = keras.InputSpec(shape=(batch,), dtype="int32", name="seed")
        return specs

    # --------------------------------------------------------------------------------------------
    def generator_inputs(self, inputs):
        """The generator's input: the semantic map, and with `use_vae` `[semantic map, z]`."""
        seg = self.preprocessor(inputs)
        if not self.use_vae:
            return seg
        z = inputs.get("z")
        if z is None:
            z = seeded_normal(inputs["seed"], self.z_dim)
        return [seg, ops.cast(z, "float32")]

    def float_images(self, inputs, training: bool = False):
        """The generator's output for `inputs`, float32 `(N, H, W, 3)` in [-1, 1]."""
        return ops.cast(self.generator(self.generator_inputs(inputs), training=training), "float32")

    def call(self, inputs, training: bool = False):
        return to_uint8_rounded(self.float_images(inputs, training=training))

    def compute_output_shape(self, input_shape):
        label_shape = input_shape["label"] if isinstance(input_shape, dict) else input_shape
        return tuple(label_shape[:3]) + (3,)

    def export(self, filepath, format: str = "tf_saved_model", verbose=None, input_signature=None,
               batch: int | None = None, **kwargs):
        """Keras' `Model.export` of this model with its output named `image` and, by default, the input
        signature `input_specs(batch)` (`batch`: None for any batch, or fixed, e.g. 1 for LiteRT.js).
        `kwargs` go to Keras' exporter (LiteRT: the converter's options, e.g. `optimizations`)."""
        if input_signature is None:
            import tensorflow as tf

            input_signature = [{name: tf.TensorSpec(spec.shape, spec.dtype, name=name)
                                for name, spec in self.input_specs(batch).items()}]
        return keras.Model.export(_NamedImage(self), filepath, format=format, verbose=verbose,
                                  input_signature=input_signature, **kwargs)

    def get_config(self):
        return {"generator": keras.saving.serialize_keras_object(self.generator),
                "preprocessor": keras.saving.serialize_keras_object(self.preprocessor), "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        generator = keras.saving.deserialize_keras_object(config.pop("generator"), custom_objects=custom_objects)
        preprocessor = keras.saving.deserialize_keras_object(config.pop("preprocessor"),
                                                             custom_objects=custom_objects)
        return cls(generator, preprocessor, **config)


class _NamedImage(keras.Model):
    """The Synthesizer with its output in a dict, `{"image": uint8}`: what exported artefacts call it."""

    def __init__(self, synthesizer: Synthesizer, **kwargs):
        super().__init__(name=synthesizer.name, **kwargs)
        self.synthesizer = synthesizer
        self.built = True

    def call(self, inputs, training: bool = False):
        return {"image": self.synthesizer(inputs, training=training)}


def example_inputs(synthesizer: Synthesizer, labels, instances=None, seeds=None) -> dict:
    """A Synthesizer's input dict from NumPy maps `(N, H, W)` (instances where it uses them; seeds
    0..N-1 by default with `use_vae`)."""
    inputs = {"label": np.asarray(labels, np.int32)}
    if not synthesizer.no_instance:
        inputs["instance"] = np.asarray(instances if instances is not None else np.zeros_like(labels), np.int32)
    if synthesizer.use_vae:
        inputs["seed"] = np.asarray(seeds if seeds is not None else np.arange(len(labels)), np.int32)
    return inputs

