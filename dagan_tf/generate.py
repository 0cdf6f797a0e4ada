"""`dagan-tf generate`: a trained generator on the test split -> PNGs and an `index.html` results page.

Like the reference's `test.py` the page lives in `<results_dir>/<name>/test_<epoch>/` (`epoch` from
the checkpoint's file name: `latest_net_G.keras` -> `latest`, `20_net_G.keras` -> `20`), with the
images in `images/input_label/`, `images/synthesized_image/` and (here also) `images/real_image/`,
shown side by side per example. The data is the test-phase pipeline (`phase_folder('test')` = the
validation files, centred crops, no flip, file order).

With `use_vae` the generator needs a style code z:
- `style_image`: one image is encoded (`z = mu + exp(logvar / 2) * eps`, eps drawn with `seed`) and
  that z styles every label map (style-guided synthesis; the reference has no ready path for it);
- otherwise each label map's paired photo is encoded, as the reference's test does;
- without an encoder checkpoint, z ~ N(0, 1) drawn with `seed`.
The encoder is `encoder_checkpoint`, or the `_net_E.keras` file beside the generator's.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from dagan_tf.config import DAGANConfig
from dagan_tf.models.loading import generator_file, load_network
from dagan_tf.models.synthesizer import Synthesizer
from dagan_tf.progress import progress_bar
from dagan_tf.visualize import label_colours, save_png, to_uint8_truncated, write_results_page

__all__ = [
    "ResultsPage",
    "generate_results",
    "load_network",
    "checkpoint_epoch",
    "encoder_path_for",
    "load_style_image",
    "reparameterize",
]

_KINDS = ("input_label", "synthesized_image", "real_image")


def checkpoint_epoch(checkpoint: str) -> str:
    """`.../20_net_G.keras` -> '20', `latest_net_G.keras` -> 'latest', other names -> their stem."""
    stem = os.path.basename(os.fspath(checkpoint))
    stem = stem[: -len(".keras")] if stem.endswith(".keras") else os.path.splitext(stem)[0]
    return stem.split("_net_")[0] if "_net_" in stem else stem


def encoder_path_for(generator_checkpoint: str) -> str:
    """The encoder file saved beside a generator: `X_net_G.keras` -> `X_net_E.keras`."""
    folder, name = os.path.split(os.fspath(generator_checkpoint))
    return os.path.join(folder, name.replace("_net_G", "_net_E"))


def load_style_image(path: str, config: DAGANConfig) -> np.ndarray:
    """An image file -> float32 `(1, H, W, 3)` in [-1, 1] at `config.image_hw` (bicubic, as photos)."""
    from PIL import Image

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"style image not found: {path}")
    try:
        img = Image.open(path).convert("RGB")
    except Exception as e:
        raise ValueError(f"cannot read style image {path}: {type(e).__name__}: {e}") from None
    height, width = config.image_hw
    img = img.resize((width, height), Image.BICUBIC)
    return (np.asarray(img, dtype=np.float32) / 127.5 - 1.0)[None]


def reparameterize(mu: np.ndarray, logvar: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, 1) from `rng` (the reference's test-time z)."""
    eps = rng.standard_normal(np.shape(mu)).astype(np.float32)
    return (np.asarray(mu, np.float32) + np.exp(0.5 * np.asarray(logvar, np.float32)) * eps).astype(np.float32)


#: From this many images on, the networks run as tf.functions: 3x faster per batch than eager
#: calls of these many-layer networks, after a trace of a few seconds.
_COMPILE_FROM_IMAGES = 16


def _inference(network, compiled: bool):
    """`network(x, training=False)` (a keras.Model or a method such as `Synthesizer.float_images`), as a
    tf.function when `compiled` (`reduce_retracing` keeps one trace for every batch size)."""
    import tensorflow as tf

    def call(x):
        return network(x, training=False)

    return tf.function(call, reduce_retracing=True) if compiled else call


def _encode(encode, images, rng) -> np.ndarray:
    mu, logvar = encode(images)
    return reparameterize(keras.ops.convert_to_numpy(mu), keras.ops.convert_to_numpy(logvar), rng)


def _batches(ds):
    """Iterate `ds`; a bad file found by tf.data ends as its DataError (naming the file), not a TF error."""
    import tensorflow as tf

    from dagan_tf.data import data_error_from

    iterator = iter(ds)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as e:
            error = data_error_from(e)
            if error is None:
                raise
            raise error from None
        yield batch


def _stems(paths) -> list[str]:
    out = []
    for p in np.asarray(paths).reshape(-1):
        p = p.decode() if isinstance(p, bytes) else str(p)
        out.append(os.path.splitext(os.path.basename(p))[0])
    return out


class ResultsPage(str):
    """The path of a results page's `index.html` (a str), with what was generated for it.

    `written`: images generated; `requested`: `how_many` (None: all); `available`: examples in the
    test split. `summary` says how many were written and, when fewer than asked, why.
    """

    written: int
    requested: int | None
    available: int
    split: str

    def __new__(cls, path: str, written: int, requested: int | None, available: int, split: str = ""):
        page = super().__new__(cls, path)
        page.written, page.requested, page.available, page.split = written, requested, available, split
        return page

    @property
    def summary(self) -> str:
        images = f"{self.written} image{'s' if self.written != 1 else ''}"
        if self.requested is None:
            return f"wrote {images}: every example of the test split ({self.split})"
        if self.written < self.requested:
            return (f"wrote {images}, fewer than the {self.requested} asked for (--how-many): the test split "
                    f"({self.split}) holds only {self.available} example{'s' if self.available != 1 else ''}")
        return f"wrote {images} (--how-many {self.requested}; the test split ({self.split}) holds {self.available})"


def generate_results(
    config: DAGANConfig,
    checkpoint: str,
    results_dir: str | None = None,
    how_many: int | None = None,
    style_image: str | None = None,
    seed: int = 0,
    encoder_checkpoint: str | None = None,
    *,
    verbose: bool = True,
    on_example=None,
    precision: str = "fp32",
) -> str:
    """Run the generator `checkpoint` over the test split of `config`; write the PNGs and the page.

    Args:
        config: the config the generator was trained with (`dataroot` may point elsewhere).
        checkpoint: generator `.keras` file, run folder or shipped name (`models.generator_file`).
        results_dir: root of the results (default `config.results_dir`).
        how_many: examples to generate (default: all).
        style_image: with `use_vae`, an image whose code styles every label map.
        seed: seed of the VAE noise.
        encoder_checkpoint: with `use_vae`, the encoder `.keras` file (default: beside `checkpoint`).
        on_example: called as `on_example(name, label, fake, real)` per example (class ids `(H, W)`, uint8
            `(H, W, 3)` generated and real photos), e.g. by `dagan-tf evaluate` to stream metrics.
        precision: 'fp32' or 'bf16' (`dagan_tf.precision.generator_in_precision`).
    Returns the path of `index.html` as a ResultsPage (a str) whose `summary` says how many images were
    written and, when fewer than `how_many`, why.
    """
    from dagan_tf.data import build_dataset, dataset_files

    if how_many is not None and how_many < 1:
        raise ValueError(f"--how-many must be >= 1, got {how_many}")
    if style_image and not config.use_vae:
        raise ValueError("--style needs a generator trained with use_vae: true (config key 'use_vae' is false)")
    checkpoint = generator_file(checkpoint)
    synthesizer = _load_synthesizer(config, checkpoint, precision)
    encoder = _load_encoder(config, checkpoint, encoder_checkpoint, style_image, seed, verbose)
    rng = np.random.default_rng(seed)
    total = len(dataset_files(config, "test"))
    compiled = min(total, how_many or total) >= _COMPILE_FROM_IMAGES
    generate = _inference(synthesizer.float_images, compiled)
    encode = _inference(encoder, compiled) if encoder is not None else None
    style_z = _encode(encode, load_style_image(style_image, config), rng) if style_image else None

    epoch = checkpoint_epoch(checkpoint)
    page_dir = os.path.join(results_dir or config.results_dir, config.name, f"test_{epoch}")
    ds = build_dataset(config, "test", batch_size=config.batchSize, shuffle=False)

    def fake_of(batch):
        return generate(_generator_inputs(batch, config, style_z, encode, rng))

    rows = _write_examples(_batches(ds), min(total, how_many or total), page_dir, config, fake_of, on_example,
                           verbose)
    title = f"Experiment = {config.name}, Phase = test, Epoch = {epoch}"
    if style_image:
        title += f", Style = {os.path.basename(style_image)}"
    page = write_results_page(os.path.join(page_dir, "index.html"), title, rows)
    return ResultsPage(page, len(rows), how_many, total, _split_text(config))


def _write_examples(batches, count: int, page_dir: str, config, fake_of, on_example, verbose: bool) -> list:
    """Generate and save the first `count` examples of `batches`; the page's rows [(name, cells)].
    `on_example(name, label, fake, real)` gets the label map's file values."""
    bar = progress_bar(count, "image", verbose=verbose)
    rows, used = [], set()
    for batch in batches:
        label = batch["label"].numpy()
        n = min(label.shape[0], count - len(rows))
        if n <= 0:
            break
        fake = to_uint8_truncated(keras.ops.convert_to_numpy(fake_of(batch)))
        real = to_uint8_truncated(batch["image"].numpy())
        colours = label_colours(label, config)
        for i, name in enumerate(_unique_names(_stems(batch["path"])[:n], used)):
            if on_example is not None:
                on_example(name, label[i], fake[i], real[i])
            rows.append((name, _save_pictures(page_dir, name, (colours[i], fake[i], real[i]))))
        bar.update(len(rows))
        if len(rows) >= count:
            break
    return rows


def _load_synthesizer(config: DAGANConfig, checkpoint: str, precision: str) -> Synthesizer:
    """The generator `checkpoint` (checked against `config`) behind the front door, in `precision`."""
    from dagan_tf.precision import check_precision, generator_in_precision

    check_precision(precision)
    synthesizer = Synthesizer.from_preset(checkpoint, config=config, purpose="generate")
    if precision == "fp32":
        return synthesizer
    return Synthesizer(generator_in_precision(synthesizer.generator, precision, config), synthesizer.preprocessor)


def _load_encoder(config: DAGANConfig, checkpoint: str, encoder_checkpoint: str | None, style_image: str | None,
                  seed: int, verbose: bool) -> keras.Model | None:
    """With `use_vae`, the encoder (given, or beside the generator); None draws z from noise instead."""
    if not config.use_vae:
        return None
    enc_path = encoder_checkpoint or encoder_path_for(checkpoint)
    if os.path.isfile(enc_path):
        return load_network(enc_path, "encoder", purpose="the style code")
    if encoder_checkpoint or style_image:
        raise FileNotFoundError(f"encoder checkpoint not found: {enc_path} (needed for the style code)")
    if verbose:
        print(f"no encoder at {enc_path}: drawing z ~ N(0, 1) with seed {seed}")
    return None


def _generator_inputs(batch: dict, config: DAGANConfig, style_z, encode, rng) -> dict:
    """The Synthesizer's inputs for a batch: label file values (+ instance), with `use_vae` and z: the
    style image's code, the paired photo's, or noise."""
    inputs = {key: batch[key] for key in ("label", "instance") if key in batch}
    if not config.use_vae:
        return inputs
    count = batch["label"].shape[0]
    if style_z is not None:
        z = np.repeat(style_z, count, axis=0)
    elif encode is not None:
        z = _encode(encode, batch["image"], rng)
    else:
        z = rng.standard_normal((count, config.z_dim)).astype(np.float32)
    inputs["z"] = keras.ops.convert_to_tensor(z)
    return inputs


def _unique_names(stems: list[str], used: set) -> list[str]:
    """`stems`, with `_2`, `_3`... where a name was used before (the same stem in two folders, e.g. coco
    portraits); `used` grows."""
    names = []
    for stem in stems:
        name, k = stem, 1
        while name in used:
            k += 1
            name = f"{stem}_{k}"
        used.add(name)
        names.append(name)
    return names


def _save_pictures(page_dir: str, name: str, pictures) -> list[tuple[str, str]]:
    """label colours | generated | real PNGs of one example; [(kind, path relative to the page)]."""
    cells = []
    for kind, picture in zip(_KINDS, pictures):
        rel = os.path.join("images", kind, f"{name}.png")
        save_png(os.path.join(page_dir, rel), picture)
        cells.append((kind, rel))
    return cells


def _split_text(config: DAGANConfig) -> str:
    """Where the test split lives, for the summary: the dataroot (or custom label_dir) and its mode."""
    from dagan_tf.data import phase_folder

    root = config.label_dir.replace("{phase}", phase_folder("test")) if config.label_dir else config.dataroot
    return f"dataset_mode '{config.dataset_mode}', {root or 'the demo-data cache'}"
