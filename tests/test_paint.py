"""dagan_tf.paint: the paint-to-photo page in a real headless Chromium, against the Python LiteRT interpreter.

Acceptance (issue 13): the page, served by `start_paint` (what `dagan-tf paint --no-browser --port 0`
runs) on a demo generator (ngf 8, 64x128, random weights made input-sensitive), is painted with real
W3C pointer events (touch at phone size 390x844 under mobile emulation, mouse at desktop size): three
strokes of three classes and one fill. The photo the page shows is compared with `ai-edge-litert` on
the same label + instance maps and the same model.tflite: fp32 / fp16 within 1 level on >= 99.9 % of
the values, int8 exact. Undo restores the previous label map exactly; screenshots at both sizes have
> 20 distinct colours in the photo. A too-large generator is refused with its size and the advice
`--quantize int8`; a dynamic-batch model gives a message in the page.

Needs /usr/bin/chromium + /usr/bin/chromedriver (Debian `chromium chromium-driver`) and the LiteRT.js
runtime from `npm ci`; set DAGAN_TF_PAINT_SCREENSHOTS=DIR to keep the screenshots.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import pathlib
import shutil
import tempfile
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from dagan_tf import cli
from dagan_tf.config import load_config, save_config
from dagan_tf.data.demo import DEMO_CLASSES
from dagan_tf.export.serving import build_serving_function
from dagan_tf.paint import find_runtime, start_paint, write_site
from dagan_tf.paint.server import SiteServer
from tests.test_export_saved_model import calibrated_generator, pixel_agreement

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
OVERRIDES = {"ngf": 8, "crop_size": 128, "load_size": 128}  # 64x128 maps
PHONE = {"width": 390, "height": 844, "pixelRatio": 2.0, "touch": True}
DESKTOP = (1280, 900)
WATER, GRASS, TREE, ROAD = 3, 4, 5, 7  # demo class values
#: (class value, stroke from, stroke to) as fractions of the map's width and height.
STROKES = ((WATER, (0.10, 0.80), (0.45, 0.70)), (TREE, (0.55, 0.55), (0.60, 0.85)), (ROAD, (0.70, 0.95), (0.90, 0.60)))
FILL_AT = (0.03, 0.05)  # top-left corner: sky in the first scene

selenium = pytest.importorskip("selenium", reason="the test extra (selenium) is needed for the browser tests")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.actions import interaction  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.actions.pointer_input import PointerInput  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


def _require_browser_and_runtime():
    """Skip where Chromium or the npm runtime is missing (a failure under `CI=true`: .ci/run installs both)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    reason = f"{', '.join(missing)} missing: `apt-get install chromium chromium-driver`" if missing else None
    try:
        find_runtime()
    except FileNotFoundError as e:
        reason = reason or str(e)
    if reason and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def config():
    return load_config("configs/demo.yaml", OVERRIDES)


@pytest.fixture(scope="module")
def checkpoint(config, tmp_path_factory):
    path = tmp_path_factory.mktemp("paint") / "G.keras"
    calibrated_generator(config, seed=3).save(path)
    return path


@pytest.fixture(scope="module")
def sites(config, checkpoint, tmp_path_factory):
    """`sites(quantize)` -> a running PaintSession; each quantisation exported once per module."""
    _require_browser_and_runtime()
    sessions = {}

    def get(quantize):
        if quantize not in sessions:
            site = tmp_path_factory.mktemp(f"site_{quantize}")
            sessions[quantize] = start_paint(checkpoint, config, quantize=quantize, site_dir=site, port=0)
        return sessions[quantize]

    yield get
    for session in sessions.values():
        session.server.stop()


def _driver(phone: bool):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="dagan_paint_chromium_")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    if phone:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    else:
        options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    os.environ["SE_AVOID_STATS"] = "true"  # with the driver path given, Selenium Manager never runs
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(120)
    driver.profile_dir = profile
    return driver


@pytest.fixture
def browser():
    drivers = []

    def open_page(url: str, phone: bool):
        driver = _driver(phone)
        drivers.append(driver)
        driver.get(url)
        return driver

    yield open_page
    for driver in drivers:
        driver.quit()
        shutil.rmtree(driver.profile_dir, ignore_errors=True)


# JS helpers: typed arrays leave the page as base64 (WebDriver has no typed-array transfer)
_B64 = ("const b64 = (a) => { const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength); let s = '';"
        " for (let i = 0; i < u.length; i += 32768) s += String.fromCharCode.apply(null, u.subarray(i, i + 32768));"
        " return btoa(s); };")


def _js(driver, body: str):
    """Run async JS `body` (may `await`; its `return` value comes back) with the b64 helper."""
    script = (f"const done = arguments[arguments.length - 1]; {_B64} "
              f"(async () => {{ {body} }})().then(done, (e) => done({{error: String(e && e.message || e)}}));")
    result = driver.execute_async_script(script)
    if isinstance(result, dict) and "error" in result:
        raise AssertionError(f"page error: {result['error']}")
    return result


def _decode(text: str, dtype, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype).reshape(shape)


def _maps(driver, hw):
    got = _js(driver, "return [b64(dagan.labelMap()), b64(dagan.instanceMap())];")
    return _decode(got[0], "<i4", hw), _decode(got[1], "<i4", hw)


def _settled(driver, hw):
    """The photo the page shows once generation settles, with the maps it was made from."""
    got = _js(driver, "const p = await dagan.settled(); return [b64(p.photo), b64(p.label), b64(p.instance), p.ms];")
    photo = _decode(got[0], np.uint8, hw + (4,))
    return photo[..., :3], _decode(got[1], "<i4", hw), _decode(got[2], "<i4", hw), got[3]


@functools.lru_cache(maxsize=None)
def _runner(model_path: str):
    return Interpreter(model_path=model_path).get_signature_runner("serving_default")


def _python_litert(model_path, label, instance) -> np.ndarray:
    runner = _runner(str(model_path))
    return runner(label=label[None].astype(np.int32), instance=instance[None].astype(np.int32))["image"][0]


def _pointer(driver, touch: bool):
    kind = interaction.POINTER_TOUCH if touch else interaction.POINTER_MOUSE
    # 25 ms per move (Selenium's default is 250 ms): a quick stroke, still several pointermove events
    return ActionBuilder(driver, mouse=PointerInput(kind, "finger" if touch else "mouse"), duration=25)


def _offset(canvas, fx: float, fy: float) -> tuple[int, int]:
    """Fractions of the canvas -> W3C offsets from its centre (CSS pixels)."""
    return int((fx - 0.5) * canvas.size["width"]), int((fy - 0.5) * canvas.size["height"])


def _map_pixel(canvas, fx, fy, hw) -> tuple[int, int]:
    dx, dy = _offset(canvas, fx, fy)
    x = (dx + canvas.size["width"] / 2) / canvas.size["width"] * hw[1]
    y = (dy + canvas.size["height"] / 2) / canvas.size["height"] * hw[0]
    return int(y), int(x)


def _stroke(driver, canvas, touch, start, end, steps=8):
    actions = _pointer(driver, touch)
    actions.pointer_action.move_to(canvas, *_offset(canvas, *start)).pointer_down()
    for s in range(1, steps + 1):
        t = s / steps
        actions.pointer_action.move_to(canvas, *_offset(canvas, start[0] + (end[0] - start[0]) * t,
                                                         start[1] + (end[1] - start[1]) * t))
    actions.pointer_action.pointer_up()
    actions.perform()


def _flood_fill(label, y, x, value) -> np.ndarray:
    out, old = label.copy(), label[y, x]
    stack, seen = [(y, x)], np.zeros(label.shape, bool)
    while stack:
        cy, cx = stack.pop()
        if not (0 <= cy < label.shape[0] and 0 <= cx < label.shape[1]) or seen[cy, cx] or label[cy, cx] != old:
            continue
        seen[cy, cx] = True
        out[cy, cx] = value
        stack += [(cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)]
    return out


def _distinct_colours(png: bytes) -> int:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(np.uint32)
    return len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]))  # one int per colour: fast unique


def _save_screenshot(driver, name: str, tmp_path) -> pathlib.Path:
    path = tmp_path / name
    driver.save_screenshot(str(path))
    keep = os.environ.get("DAGAN_TF_PAINT_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copyfile(path, os.path.join(keep, name))
    return path


def _scene_agreement(driver, model_path, hw) -> list[np.ndarray]:
    """|page - Python LiteRT| of every random scene, each set through `dagan.setLabelMap` + `generate()`."""
    got = _js(driver, """
        const out = [], {height: h, width: w} = dagan.info;
        for (const scene of dagan.info.scenes) {
          const read = async (f) => new Int32Array(await (await fetch(f)).arrayBuffer());
          const label = await read(scene.label), instance = await read(scene.instance);
          dagan.setLabelMap(label, h, w, instance);
          out.push([b64(label), b64(instance), b64(await dagan.generate())]);
        }
        return out;""")
    diffs = []
    for label, instance, photo in got:
        label, instance = _decode(label, "<i4", hw), _decode(instance, "<i4", hw)
        rgb = _decode(photo, np.uint8, hw + (4,))[..., :3]
        diffs.append(np.abs(rgb.astype(int) - _python_litert(model_path, label, instance).astype(int)))
    return diffs


def _tap(driver, canvas, touch, at):
    actions = _pointer(driver, touch)
    actions.pointer_action.move_to(canvas, *_offset(canvas, *at)).pointer_down().pointer_up()
    actions.perform()


def _paint_three_strokes(driver, canvas, touch, hw):
    for value, start, end in STROKES:
        driver.find_element(By.CSS_SELECTOR, f'.swatch[data-value="{value}"]').click()
        label_before, instance_before = _maps(driver, hw)
        _stroke(driver, canvas, touch, start, end)
        label, instance = _maps(driver, hw)
        middle = tuple((a + b) / 2 for a, b in zip(start, end))
        for point in (start, middle, end):
            y, x = _map_pixel(canvas, *point, hw)
            assert label[y, x] == value, (value, point, label[y, x])
        changed = label != label_before
        assert changed.sum() >= 20 and np.all(label[changed] == value)
        ids = np.unique(instance[changed])
        if value == TREE:  # a thing: the stroke is one new instance of its class
            assert len(ids) == 1 and ids[0] // 1000 == TREE and ids[0] not in instance_before
        else:
            np.testing.assert_array_equal(ids, [value])


@pytest.mark.parametrize("quantize, phone", [("none", True), ("fp16", False), ("int8", True)],
                         ids=["fp32-phone-touch", "fp16-desktop-mouse", "int8-phone-touch"])
def test_painted_map_gives_the_python_litert_photo(quantize, phone, sites, browser, config, tmp_path):
    session, hw = sites(quantize), config.image_hw
    # desktop: WebGPU asked for; headless Chromium (--disable-gpu) has none, so the page must say so and use WASM
    driver = browser(session.url + ("" if phone else "?accelerator=webgpu"), phone)
    backend = _js(driver, "await dagan.ready; await dagan.settled(); return dagan.backend;")
    assert backend == {"accelerator": "wasm", "threads": 2 if os.cpu_count() >= 2 else 1, "crossOriginIsolated": True}
    assert phone or "WebGPU not used" in driver.find_element(By.ID, "status").text
    canvas = driver.find_element(By.ID, "map")
    if phone:
        assert driver.execute_script("return [innerWidth, innerHeight]") == [PHONE["width"], PHONE["height"]]
        assert canvas.rect["x"] + canvas.rect["width"] <= PHONE["width"]  # the map fits the screen

    _paint_three_strokes(driver, canvas, phone, hw)
    driver.find_element(By.CSS_SELECTOR, '#controls input[value="fill"]').click()
    driver.find_element(By.CSS_SELECTOR, f'.swatch[data-value="{GRASS}"]').click()
    before_fill, instance_before_fill = _maps(driver, hw)
    y, x = _map_pixel(canvas, *FILL_AT, hw)
    assert before_fill[y, x] != GRASS
    _tap(driver, canvas, phone, FILL_AT)
    after_fill, instance_after_fill = _maps(driver, hw)
    np.testing.assert_array_equal(after_fill, _flood_fill(before_fill, y, x, GRASS))

    photo, label, instance, ms = _settled(driver, hw)
    np.testing.assert_array_equal(label, after_fill)
    np.testing.assert_array_equal(instance, instance_after_fill)
    painted = pixel_agreement(photo, _python_litert(session.model_path, label, instance))
    shot = _save_screenshot(driver, f"paint_{'phone' if phone else 'desktop'}_{quantize}.png", tmp_path)
    assert _distinct_colours(driver.find_element(By.ID, "photo").screenshot_as_png) > 20
    assert _distinct_colours(shot.read_bytes()) > 20
    assert "ms on this device" in driver.find_element(By.ID, "latency").text

    driver.find_element(By.ID, "undo").click()
    np.testing.assert_array_equal(_maps(driver, hw)[0], before_fill)
    np.testing.assert_array_equal(_maps(driver, hw)[1], instance_before_fill)
    driver.find_element(By.ID, "redo").click()
    np.testing.assert_array_equal(_maps(driver, hw)[0], after_fill)
    driver.find_element(By.CSS_SELECTOR, '#controls input[value="eraser"]').click()
    _stroke(driver, canvas, phone, (0.2, 0.3), (0.4, 0.3))
    erased = _maps(driver, hw)[0] != after_fill
    assert erased.sum() >= 10 and np.all(_maps(driver, hw)[0][erased] == json.loads(
        (session.site_dir / "classes.json").read_text())["eraser_value"])
    driver.find_element(By.ID, "undo").click()
    np.testing.assert_array_equal(_maps(driver, hw)[0], after_fill)

    diffs = [np.abs(photo.astype(int) - _python_litert(session.model_path, label, instance).astype(int))]
    diffs += _scene_agreement(driver, session.model_path, hw)
    d = np.concatenate([x.ravel() for x in diffs])
    print(f"\n{quantize} ({'phone' if phone else 'desktop'}): painted map {painted}; {len(diffs)} maps: "
          f"equal {np.mean(d == 0):.6f}, within 1 {np.mean(d <= 1):.6f}, max {d.max()}; first photo {ms:.0f} ms")
    if quantize == "int8":
        assert d.max() == 0  # int8: exact
    else:
        assert np.mean(d <= 1) >= 0.999
    assert driver.find_element(By.ID, "message").get_attribute("hidden") is not None


def test_batch_1_export_keeps_the_serving_contract(sites, config, checkpoint):
    """`--batch 1`: every input's signature is (1, H, W) (LiteRT.js needs fixed shapes), the output
    is the dynamic-batch serving function's image (fp32 within 1 level on >= 99.9 % of values)."""
    import keras

    model_path = sites("none").model_path
    runner = Interpreter(model_path=str(model_path)).get_signature_runner("serving_default")
    h, w = config.image_hw
    for name, detail in runner.get_input_details().items():
        assert list(detail["shape_signature"]) == [1, h, w], name
    assert list(runner.get_output_details()["image"]["shape_signature"]) == [1, h, w, 3]
    label, instance = (np.fromfile(model_path.parent / f"scenes/01.{k}.bin", "<i4").reshape(h, w)
                       for k in ("label", "instance"))
    serve = build_serving_function(keras.saving.load_model(checkpoint), config, validate=False)
    want = serve(label=tf.constant(label[None]), instance=tf.constant(instance[None]))["image"].numpy()[0]
    assert pixel_agreement(_python_litert(model_path, label, instance), want)["within1"] >= 0.999


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


def _dynamic_batch_model(config, path) -> pathlib.Path:
    """A small model with the generator's inputs but a dynamic batch axis (as `export` without --batch)."""
    h, w = config.image_hw
    specs = [tf.TensorSpec([None, h, w], tf.int32, name=n) for n in ("label", "instance")]

    @tf.function(input_signature=specs, autograph=False)
    def serve(label, instance):
        grey = tf.cast((label * 30 + instance) % 256, tf.uint8)
        return {"image": tf.stack([grey] * 3, axis=-1)}

    module = tf.Module()
    module.serve = serve
    saved = str(path.parent / "dynamic_saved_model")
    tf.saved_model.save(module, saved, signatures={"serving_default": serve.get_concrete_function()})
    path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(saved).convert())
    return path


def test_dynamic_batch_model_gives_a_message_in_the_page(config, browser, tmp_path):
    _require_browser_and_runtime()
    model = _dynamic_batch_model(config, tmp_path / "dynamic.tflite")
    with pytest.raises(ValueError, match=r"batch dynamic \(-1\).*--batch 1"):
        start_paint(model, config, site_dir=tmp_path / "refused", port=0)
    with SiteServer(write_site(tmp_path / "site", model, config, scene_count=1), port=0) as server:
        driver = browser(server.url, phone=False)
        error = _js(driver, "try { await dagan.ready; return null; } catch (e) { return e.message; }")
        message = driver.find_element(By.ID, "message")
        assert message.is_displayed() and message.text == error
        assert "batch 1 only" in error and "--batch 1" in error and "[-1, 64, 128]" in error, error
        assert driver.find_element(By.ID, "status").text == "error"
