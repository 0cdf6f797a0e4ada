"""`dagan-tf paint`: a batch-1 TFLite generator + the paint site + a local server.

    session = start_paint("G.keras", config, quantize="int8", port=0)   # or start_paint(): the shipped demo
    print(session.banner()); session.server.wait()

Given a generator `.keras` file, the model is exported once (TFLite, fixed batch 1, as the page
needs) into the site folder and reused while the checkpoint and the quantisation stay the same (a
stamp file records both). Given a `.tflite` file, it must already have batch 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import webbrowser

from dagan_tf.config import DAGANConfig, load_config
from dagan_tf.paint.server import SiteServer
from dagan_tf.paint.site import MODEL_FILE, write_site

__all__ = ["MAX_MODEL_BYTES", "PaintSession", "default_site_dir", "prepare_model", "serve_paint", "start_paint"]

#: Largest model the page is given: a phone browser has to download it and hold it twice in memory
#: (the flatbuffer and the WASM heap); 150 MB is about an fp32 GauGAN at 256x256 with ngf 64.
MAX_MODEL_BYTES = 150 * 1024 * 1024
_STAMP_FILE = "model.json"


def default_site_dir(checkpoint) -> pathlib.Path:
    """`paint_site/` beside the checkpoint (i.e. in its run folder); for a generator shipped with the
    package (which may be read-only), `$XDG_CACHE_HOME/dagan_tf/paint/<name>` (`~/.cache/...`)."""
    from dagan_tf.models.loading import SHIPPED_GENERATORS, shipped_generator_path

    path = pathlib.Path(os.fspath(checkpoint)).resolve()
    for name in SHIPPED_GENERATORS:
        try:
            if path == pathlib.Path(shipped_generator_path(name)).resolve():
                cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
                return pathlib.Path(cache) / "dagan_tf" / "paint" / name
        except FileNotFoundError:
            continue
    return path.parent / "paint_site"


def _resolve_config(checkpoint, config) -> DAGANConfig:
    if isinstance(config, DAGANConfig):
        return config
    if not config and str(checkpoint).endswith(".keras"):
        from dagan_tf.config import ConfigError
        from dagan_tf.models.loading import config_for_checkpoint

        try:
            return config_for_checkpoint(checkpoint)  # the generator's own (CheckpointError for a bad file)
        except ConfigError:
            pass  # saved without its config: config.yaml beside it
    path = pathlib.Path(config) if config else pathlib.Path(os.fspath(checkpoint)).parent / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no config for {checkpoint}: {path} does not exist; pass --config CFG "
                                "(the YAML the generator was trained with)")
    return load_config(str(path))


def _stamp(checkpoint: pathlib.Path, quantize: str) -> dict:
    stat = checkpoint.stat()
    return {"checkpoint": str(checkpoint.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "quantize": quantize, "batch": 1}


def _check_batch_1(model_path: pathlib.Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    try:
        runner = Interpreter(model_path=str(model_path)).get_signature_runner()
    except (ValueError, RuntimeError) as e:  # LiteRT's multi-line text names no file
        reason = " ".join(str(e).split())
        raise ValueError(f"{model_path} is not a TFLite model LiteRT can load ({reason})") from None
    for name, detail in runner.get_input_details().items():
        batch = int(detail["shape_signature"][0])
        if batch != 1:
            raise ValueError(
                f"{model_path}: input `{name}` has batch {'dynamic (-1)' if batch < 0 else batch}; the page runs "
                "batch 1 only: re-export with `dagan-tf export --format tflite --batch 1` or give the .keras file")


def _check_size(model_path: pathlib.Path, quantize: str, limit: int) -> None:
    size = model_path.stat().st_size
    if size > limit:
        if quantize == "int8":
            advice = "use a smaller generator (ngf) or crop size"
        elif model_path.suffix == ".tflite" and model_path.name != MODEL_FILE:
            advice = "give the .keras generator with `--quantize int8` (about a quarter of the fp32 size)"
        else:
            advice = "use `--quantize int8` (about a quarter of the fp32 size)"
        raise ValueError(f"generator {model_path} is {size / 2**20:.1f} MB, too large for the page "
                         f"(limit {limit / 2**20:.0f} MB): {advice}")


def prepare_model(checkpoint, config: DAGANConfig, site_dir, quantize: str = "none",
                  max_bytes: int | None = None) -> pathlib.Path:
    """The batch-1 `.tflite` the site will serve: `checkpoint` itself if it is a `.tflite` (checked
    for batch 1), else an export of the `.keras` generator into `site_dir` (reused when its stamp
    matches). Raises ValueError naming the size and the advice when it exceeds `max_bytes`
    (default MAX_MODEL_BYTES)."""
    checkpoint = pathlib.Path(os.fspath(checkpoint))
    if not checkpoint.is_file():
        raise FileNotFoundError(f"generator checkpoint not found: {checkpoint}")
    limit = MAX_MODEL_BYTES if max_bytes is None else max_bytes
    if checkpoint.suffix == ".tflite":
        if quantize != "none":
            raise ValueError(f"--quantize {quantize} applies to a .keras generator; {checkpoint} is already a "
                             "TFLite model (export it with `dagan-tf export --format tflite --batch 1 --quantize ...`)")
        _check_size(checkpoint, quantize, limit)
        _check_batch_1(checkpoint)
        return checkpoint
    site = pathlib.Path(site_dir)
    model_path, stamp_path = site / MODEL_FILE, site / _STAMP_FILE
    stamp = _stamp(checkpoint, quantize)
    if not (model_path.is_file() and stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp):
        from dagan_tf.export import export_generator
        from dagan_tf.paint.site import open_site

        open_site(site)
        print(f"dagan-tf paint: exporting {checkpoint} to TFLite (batch 1, quantize {quantize}) ...")
        export_generator(config, str(checkpoint), format="tflite", quantize=quantize, out=str(model_path), batch=1)
        stamp_path.write_text(json.dumps(stamp))
    _check_size(model_path, quantize, limit)
    return model_path


@dataclasses.dataclass
class PaintSession:
    """A written site and the server serving it."""

    site_dir: pathlib.Path
    model_path: pathlib.Path
    server: SiteServer

    @property
    def url(self) -> str:
        return self.server.url

    def banner(self) -> str:
        lines = [f"paint site: {self.site_dir}", f"open {self.url} (Ctrl-C stops the server)"]
        lan = self.server.lan_url()
        if lan:
            lines.append(f"on a phone in the same network: {lan} (one WASM thread there: browsers allow "
                         "threads on https or localhost only)")
        elif self.server.host in ("127.0.0.1", "localhost"):
            lines.append("for a phone in the same network, start with --host 0.0.0.0 (WASM threads need "
                         "https or localhost; over plain http a phone runs the page on one thread)")
        return "\n".join(lines)


def start_paint(checkpoint="demo", config=None, *, quantize: str | None = None, site_dir=None, host: str = "127.0.0.1",
                port: int = 8000, max_bytes: int | None = None) -> PaintSession:
    """Export (or reuse) the batch-1 model, write the site, start serving it; returns the session.

    checkpoint: a generator `.keras` file, run folder or shipped name (`models.generator_file`: 'demo'),
        or a batch-1 `.tflite` file.
    config: a DAGANConfig, a YAML path, or None for the `.keras` file's own config (or, for older
        files and `.tflite` files, `config.yaml` beside the checkpoint).
    quantize: the TFLite export of a `.keras` generator: 'none', 'fp16' or 'int8'; None: int8 (a
        quarter of the fp32 file, for phones) for a `.keras` generator, a `.tflite` as it is.
    site_dir: default `default_site_dir(checkpoint)`. port 0 picks a free port.
    """
    from dagan_tf.models.loading import generator_file

    from dagan_tf.paint.site import claim_site

    checkpoint = generator_file(checkpoint)
    if quantize is None:
        quantize = "none" if str(checkpoint).endswith(".tflite") else "int8"
    config = _resolve_config(checkpoint, config)
    site = claim_site(site_dir if site_dir else default_site_dir(checkpoint))  # before anything is written there
    model_path = prepare_model(checkpoint, config, site, quantize, max_bytes)
    write_site(site, model_path, config)
    return PaintSession(site, model_path, SiteServer(site, host, port))


def serve_paint(checkpoint, config=None, *, open_browser: bool = True, announce=print, **kwargs) -> None:
    """`start_paint`, print the URLs, open a browser unless told not to, serve until Ctrl-C."""
    session = start_paint(checkpoint, config, **kwargs)
    announce(session.banner())
    if open_browser:
        webbrowser.open(session.url)
    session.server.wait()
