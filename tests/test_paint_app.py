"""dagan_tf.paint.app: `start_paint` and `dagan-tf paint`, the site they write and the server that serves it.

The batch-1 export keeps the serving contract; the site's headers allow WASM threads; a too-large
generator, a foreign `--site` folder and every bad argument end in one line naming the file or option;
only the files the site wrote are served; a `.keras` file's own config is used; `dagan-tf paint` alone
serves the shipped demo model as int8 TFLite, whose photo keeps the Keras model's. Needs the LiteRT.js
runtime from `npm ci` (and, for its skip rule, what test_paint.py needs).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from dagan_tf import cli
from dagan_tf.config import load_config, save_config
from dagan_tf.data.demo import DEMO_CLASSES
from dagan_tf.export.serving import build_serving_function
from dagan_tf.models import Synthesizer
from dagan_tf.paint import start_paint
from tests.browser import require_browser_and_runtime
from tests.helpers import pixel_agreement
from tests.paint_helpers import litert_runner, paint_fixtures, python_litert

pytestmark = pytest.mark.slow

config, generator, sites = paint_fixtures()


def test_batch_1_export_keeps_the_serving_contract(sites, config, generator):
    """`--batch 1`: every input's signature is (1, H, W) (LiteRT.js needs fixed shapes), the output
    is the dynamic-batch serving function's image (fp32 within 1 level on >= 99.9 % of values)."""
    model_path = sites("none").model_path
    runner = Interpreter(model_path=str(model_path)).get_signature_runner("serving_default")
    h, w = config.image_hw
    for name, detail in runner.get_input_details().items():
        assert list(detail["shape_signature"]) == [1, h, w], name
    assert list(runner.get_output_details()["image"]["shape_signature"]) == [1, h, w, 3]
    label, instance = (np.fromfile(model_path.parent / f"scenes/01.{k}.bin", "<i4").reshape(h, w)
                       for k in ("label", "instance"))
    serve = build_serving_function(Synthesizer(generator), validate=False)
    want = serve(label=tf.constant(label[None]), instance=tf.constant(instance[None]))["image"].numpy()[0]
    assert pixel_agreement(python_litert(model_path, label, instance), want)["within1"] >= 0.999


def test_site_headers_allow_wasm_threads(sites):
    session = sites("none")
    for path, kind in (("", "text/html"), ("litertjs/wasm/litert_wasm_threaded_internal.wasm", "application/wasm"),
                       ("paint.js", "text/javascript"), ("classes.json", "application/json")):
        with urllib.request.urlopen(session.url + path) as response:
            response.read()
            assert response.headers["Content-Type"].startswith(kind), path
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    classes = json.loads((session.site_dir / "classes.json").read_text())
    assert [c["name"] for c in classes["classes"]] == list(DEMO_CLASSES)
    assert [c["thing"] for c in classes["classes"]] == [n in ("cloud", "tree") for n in DEMO_CLASSES]


def test_too_large_generator_is_refused_with_its_size(sites, config, monkeypatch, capsys, tmp_path):
    import dagan_tf.paint.app as app

    model = sites("none").model_path
    monkeypatch.setattr(app, "MAX_MODEL_BYTES", 1 << 20)
    cfg_path = tmp_path / "demo.yaml"
    save_config(config, str(cfg_path))
    argv = ["paint", "--checkpoint", str(model), "--config", str(cfg_path), "--site", str(tmp_path / "site"),
            "--port", "0", "--no-browser"]
    assert cli.main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    size_mb = model.stat().st_size / 2**20
    assert error.startswith("dagan-tf paint: error: ") and f"{size_mb:.1f} MB" in error, error
    assert "--quantize int8" in error and str(model) in error
    assert not (tmp_path / "site").exists()
    with pytest.raises(ValueError, match=r"--quantize int8 applies to a \.keras generator"):
        start_paint(model, config, quantize="int8", site_dir=tmp_path / "site", port=0)


@contextlib.contextmanager
def _paint_cli(argv, monkeypatch, timeout_s: float = 120):
    """`dagan-tf paint ARGV` in a thread until it serves; yields the server's URL, then stops it."""
    import dagan_tf.paint.app as app

    servers, release = [], threading.Event()

    def wait(server):  # stands in for "serve until Ctrl-C"
        servers.append(server)
        release.wait(timeout_s)
        server.stop()

    monkeypatch.setattr(app.SiteServer, "wait", wait)
    thread = threading.Thread(target=cli.main, args=(["paint", "--port", "0", "--no-browser", *argv],))
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not servers and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert servers, "dagan-tf paint did not start serving"
        yield servers[0].url
    finally:
        release.set()
        thread.join(60)


def _json(url):
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())


def test_cli_paint_writes_and_serves_an_offline_site(sites, config, tmp_path, monkeypatch, capsys):
    """`dagan-tf paint --no-browser --port 0` on a batch-1 .tflite: prints the URL, serves the page;
    the page's own files name no network address (the runtime comes from the site, not a CDN)."""
    cfg_path = tmp_path / "demo.yaml"
    save_config(config, str(cfg_path))
    argv = ["--checkpoint", str(sites("none").model_path), "--config", str(cfg_path), "--site", str(tmp_path / "site")]
    with _paint_cli(argv, monkeypatch) as url:
        assert f"open {url}" in capsys.readouterr().out
        classes = _json(url + "classes.json")
        assert (classes["height"], classes["width"]) == config.image_hw and classes["instances"]
        with urllib.request.urlopen(url) as response:
            assert b'"@litertjs/wasm-utils": "./litertjs/wasm-utils/index.js"' in response.read()
    for page_file in ("index.html", "paint.js", "model.js", "labelmap.js", "style.css"):
        text = (tmp_path / "site" / page_file).read_text()
        assert "http://" not in text and "https://" not in text, page_file


def test_the_generator_file_s_own_config_is_used_without_config_yaml(tmp_path):
    """A `.keras` generator carries its config: `dagan-tf paint --checkpoint G.keras` needs nothing beside it;
    a file without one still falls back to `config.yaml` beside it."""
    import keras

    from dagan_tf.models import build_generator
    from dagan_tf.paint.app import _resolve_config

    cfg = load_config("demo", {"ngf": 8, "crop_size": 64, "load_size": 64, "dataroot": "/data/demo"})
    generator = build_generator(cfg)
    generator.save(tmp_path / "G.keras")
    assert _resolve_config(tmp_path / "G.keras", None) == cfg
    old = tmp_path / "old" / "G.keras"
    old.parent.mkdir()
    keras.Model(generator.inputs, generator.outputs).save(old)
    with pytest.raises(FileNotFoundError, match="config.yaml does not exist; pass --config CFG"):
        _resolve_config(old, None)
    save_config(cfg.replace(name="old"), old.parent / "config.yaml")
    assert _resolve_config(old, None).name == "old"


def _get(url) -> int:
    try:
        with urllib.request.urlopen(url) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_a_folder_it_did_not_write_is_refused_and_only_the_site_is_served(sites, config, tmp_path):
    """`--site DIR` with someone's files is refused before anything is written; the server serves the
    files write_site wrote and nothing else (no listings, nothing added later, no way out of the folder)."""
    model = sites("none").model_path
    foreign = tmp_path / "foreign"
    (foreign / "photos").mkdir(parents=True)
    (foreign / "secret.txt").write_text("not for the LAN")
    with pytest.raises(ValueError, match=r"--site .*foreign holds files dagan-tf paint did not write \(photos, "
                                         r"secret.txt\); give a new or empty folder"):
        start_paint(model, config, site_dir=foreign, port=0)
    assert sorted(p.name for p in foreign.iterdir()) == ["photos", "secret.txt"]

    session = start_paint(model, config, site_dir=tmp_path / "site", port=0)
    try:
        (session.site_dir / "secret.txt").write_text("added after the site was written")
        (session.site_dir / "photos").mkdir()
        assert _get(session.url) == 200 and _get(session.url + "classes.json") == 200
        for path in ("secret.txt", "photos/", "scenes/", "litertjs/", "model.json", ".dagan_paint_site.json",
                     "%2e%2e/foreign/secret.txt", "scenes/../secret.txt"):
            assert _get(session.url + path) == 404, path
    finally:
        session.server.stop()
    session = start_paint(model, config, site_dir=tmp_path / "site", port=0)  # its own site: rewritten
    session.server.stop()


def test_paint_faults_end_in_one_line_naming_the_file_or_option(sites, tmp_path, capsys):
    def last_line(argv) -> str:
        assert cli.main(["paint", "--no-browser", "--site", str(tmp_path / "s"), *argv]) == 2
        return capsys.readouterr().err.strip().splitlines()[-1]

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["paint", "--port", "99999"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "dagan-tf paint: error: argument --port: 99999 is not a port number (0..65535; 0 picks a free one)")
    truncated = tmp_path / "G.keras"
    truncated.write_bytes(b"PK\x03\x04 not the rest of a zip")
    assert last_line(["--checkpoint", str(truncated)]).startswith(
        f"dagan-tf paint: error: {truncated} is not a valid .keras file")
    garbage = tmp_path / "model.tflite"
    garbage.write_bytes(b"\x00" * 64)
    line = last_line(["--checkpoint", str(garbage), "--config", "demo"])
    assert line.startswith(f"dagan-tf paint: error: {garbage} is not a TFLite model LiteRT can load"), line


def test_paint_without_a_checkpoint_serves_the_shipped_demo_model(tmp_path, monkeypatch, capsys):
    """`dagan-tf paint` alone: the shipped generator, exported to int8 TFLite, with the demo's palette
    in colours that read as its classes. The int8 photo of a fresh scene keeps the Keras model's
    (PSNR >= 25 dB; 30.9 dB over 4 scenes when written, 8.8 dB while the one-hot was a ONE_HOT op)."""
    from dagan_tf.data.demo import render_scene
    from dagan_tf.data.scenes import DEMO_CLASS_COLOURS
    from dagan_tf.paint.site import MODEL_FILE

    require_browser_and_runtime()
    site = tmp_path / "site"
    with _paint_cli(["--site", str(site)], monkeypatch, timeout_s=600) as url:
        classes = _json(url + "classes.json")
    stamp = json.loads((site / "model.json").read_text())
    assert stamp["checkpoint"].endswith(os.path.join("dagan_tf", "pretrained", "demo_net_G.keras"))
    assert stamp["quantize"] == "int8"
    assert (classes["height"], classes["width"], classes["name"]) == (128, 256, "demo")
    assert [c["name"] for c in classes["classes"]] == list(DEMO_CLASSES)
    assert [tuple(c["colour"]) for c in classes["classes"]] == list(DEMO_CLASS_COLOURS)

    label, instance, _ = render_scene(np.random.default_rng((4242, 0, 0)), 128, 256)
    feeds = {"label": label[None].astype(np.int32), "instance": instance[None].astype(np.int32)}
    int8 = litert_runner(str(site / MODEL_FILE))(**feeds)["image"]
    stats = pixel_agreement(int8, np.asarray(Synthesizer.from_preset("demo")(feeds)))
    print(f"\nshipped model, int8 TFLite vs Keras: PSNR {stats['psnr']:.1f} dB, mean abs {stats['mean']:.2f}")
    assert stats["psnr"] >= 25.0, stats
