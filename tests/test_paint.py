"""dagan_tf.paint: the paint-to-photo page in a real headless Chromium, against the Python LiteRT interpreter.

Acceptance (issue 13): the page, served by `start_paint` (what `dagan-tf paint --no-browser --port 0`
runs) on a demo generator (ngf 8, 64x128, random weights made input-sensitive), is painted with real
W3C pointer events (touch at phone size 390x844 under mobile emulation, mouse at desktop size): three
strokes of three classes and one fill. The photo the page shows is compared with `ai-edge-litert` on
the same label + instance maps and the same model.tflite: fp32 / fp16 within 1 level on >= 99.9 % of
the values, int8 exact. Undo restores the previous label map exactly (also when it comes in the middle
of a stroke); screenshots at both sizes have > 20 distinct colours in the photo; a dynamic-batch model
gives a message in the page. Also: the eraser, the WebGPU opt-in's fall-back, label PNG upload (grey and
coloured) and the seed of `use_vae` configs / the instance-free input of `no_instance` configs (on small
integer models). The site, its server and the command are test_paint_app.py's.

Needs /usr/bin/chromium + /usr/bin/chromedriver (Debian `chromium chromium-driver`) and the LiteRT.js
runtime from `npm ci`; set DAGAN_TF_PAINT_SCREENSHOTS=DIR to keep the screenshots.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from dagan_tf.paint import class_table, start_paint, write_site
from dagan_tf.paint.server import SiteServer
from tests.helpers import pixel_agreement
from tests.paint_helpers import paint_fixtures, python_litert

pytest.importorskip("selenium", reason="the test extra (selenium) is needed for the browser tests")
from selenium.webdriver.common.by import By  # noqa: E402

from tests.browser import (  # noqa: E402
    PHONE,
    chromium_driver,
    decode,
    distinct_colours,
    offset,
    quit_driver,
    require_browser_and_runtime,
    run_js,
    stroke,
    tap,
)

pytestmark = pytest.mark.slow

config, generator, sites = paint_fixtures()

WATER, GRASS, TREE, ROAD = 3, 4, 5, 7  # demo class values
#: (class value, stroke from, stroke to) as fractions of the map's width and height.
STROKES = ((WATER, (0.10, 0.80), (0.45, 0.70)), (TREE, (0.55, 0.55), (0.60, 0.85)), (ROAD, (0.70, 0.95), (0.90, 0.60)))
FILL_AT = (0.03, 0.05)  # top-left corner: sky in the first scene


@pytest.fixture
def browser():
    drivers = []

    def open_page(url: str, phone: bool):
        driver = chromium_driver(phone)
        drivers.append(driver)
        driver.get(url)
        return driver

    yield open_page
    for driver in drivers:
        quit_driver(driver)


def _maps(driver, hw):
    got = run_js(driver, "return [b64(dagan.labelMap()), b64(dagan.instanceMap())];")
    return decode(got[0], "<i4", hw), decode(got[1], "<i4", hw)


def _settled(driver, hw):
    """The photo the page shows once generation settles, with the maps it was made from."""
    got = run_js(driver, "const p = await dagan.settled(); return [b64(p.photo), b64(p.label), b64(p.instance), p.ms];")
    photo = decode(got[0], np.uint8, hw + (4,))
    return photo[..., :3], decode(got[1], "<i4", hw), decode(got[2], "<i4", hw), got[3]


def _map_pixel(canvas, fx, fy, hw) -> tuple[int, int]:
    dx, dy = offset(canvas, fx, fy)
    x = (dx + canvas.size["width"] / 2) / canvas.size["width"] * hw[1]
    y = (dy + canvas.size["height"] / 2) / canvas.size["height"] * hw[0]
    return int(y), int(x)


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
    got = run_js(driver, """
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
        label, instance = decode(label, "<i4", hw), decode(instance, "<i4", hw)
        rgb = decode(photo, np.uint8, hw + (4,))[..., :3]
        diffs.append(np.abs(rgb.astype(int) - python_litert(model_path, label, instance).astype(int)))
    return diffs


def _paint_three_strokes(driver, canvas, touch, hw):
    for value, start, end in STROKES:
        driver.find_element(By.CSS_SELECTOR, f'.swatch[data-value="{value}"]').click()
        label_before, instance_before = _maps(driver, hw)
        stroke(driver, canvas, touch, start, end)
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
    backend = run_js(driver, "await dagan.ready; await dagan.settled(); return dagan.backend;")
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
    tap(driver, canvas, phone, FILL_AT)
    after_fill, instance_after_fill = _maps(driver, hw)
    np.testing.assert_array_equal(after_fill, _flood_fill(before_fill, y, x, GRASS))

    photo, label, instance, ms = _settled(driver, hw)
    np.testing.assert_array_equal(label, after_fill)
    np.testing.assert_array_equal(instance, instance_after_fill)
    painted = pixel_agreement(photo, python_litert(session.model_path, label, instance))
    shot = _save_screenshot(driver, f"paint_{'phone' if phone else 'desktop'}_{quantize}.png", tmp_path)
    assert distinct_colours(driver.find_element(By.ID, "photo").screenshot_as_png) > 20
    assert distinct_colours(shot.read_bytes()) > 20
    assert "ms on this device" in driver.find_element(By.ID, "latency").text

    driver.find_element(By.ID, "undo").click()
    np.testing.assert_array_equal(_maps(driver, hw)[0], before_fill)
    np.testing.assert_array_equal(_maps(driver, hw)[1], instance_before_fill)
    driver.find_element(By.ID, "redo").click()
    np.testing.assert_array_equal(_maps(driver, hw)[0], after_fill)
    driver.find_element(By.CSS_SELECTOR, '#controls input[value="eraser"]').click()
    stroke(driver, canvas, phone, (0.2, 0.3), (0.4, 0.3))
    erased = _maps(driver, hw)[0] != after_fill
    assert erased.sum() >= 10 and np.all(_maps(driver, hw)[0][erased] == json.loads(
        (session.site_dir / "classes.json").read_text())["eraser_value"])
    driver.find_element(By.ID, "undo").click()
    np.testing.assert_array_equal(_maps(driver, hw)[0], after_fill)

    diffs = [np.abs(photo.astype(int) - python_litert(session.model_path, label, instance).astype(int))]
    diffs += _scene_agreement(driver, session.model_path, hw)
    d = np.concatenate([x.ravel() for x in diffs])
    print(f"\n{quantize} ({'phone' if phone else 'desktop'}): painted map {painted}; {len(diffs)} maps: "
          f"equal {np.mean(d == 0):.6f}, within 1 {np.mean(d <= 1):.6f}, max {d.max()}; first photo {ms:.0f} ms")
    if quantize == "int8":
        assert d.max() == 0  # int8: exact
    else:
        assert np.mean(d <= 1) >= 0.999
    assert driver.find_element(By.ID, "message").get_attribute("hidden") is not None


def test_undo_during_a_stroke_ends_the_stroke(sites, browser, config):
    """Undo while a finger is still drawing (a second finger's tap, or moves delivered late on a busy
    phone): the moves after the undo must not draw onto the restored map, where no undo step would
    cover them (undo ends the stroke)."""
    hw = config.image_hw
    driver = browser(sites("none").url, True)
    run_js(driver, "await dagan.ready; await dagan.settled();")
    canvas = driver.find_element(By.ID, "map")
    driver.find_element(By.CSS_SELECTOR, f'.swatch[data-value="{WATER}"]').click()
    before = _maps(driver, hw)[0]
    # the undo button's click, from inside the stroke: after the page has drawn the 3rd of 8 moves
    driver.execute_script("""const map = document.getElementById('map'); let moves = 0;
        map.addEventListener('pointermove', function undoOnce() {
          if (++moves === 3) { map.removeEventListener('pointermove', undoOnce); document.getElementById('undo').click(); }
        });""")
    stroke(driver, canvas, True, (0.1, 0.5), (0.9, 0.5))
    np.testing.assert_array_equal(_maps(driver, hw)[0], before)
    stroke(driver, canvas, True, (0.1, 0.5), (0.9, 0.5))  # the next stroke draws as usual
    assert (_maps(driver, hw)[0] == WATER).sum() - (before == WATER).sum() >= 50


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
    require_browser_and_runtime()
    model = _dynamic_batch_model(config, tmp_path / "dynamic.tflite")
    with pytest.raises(ValueError, match=r"batch dynamic \(-1\).*--batch 1"):
        start_paint(model, config, site_dir=tmp_path / "refused", port=0)
    with SiteServer(write_site(tmp_path / "site", model, config, scene_count=1), port=0) as server:
        driver = browser(server.url, phone=False)
        error = run_js(driver, "try { await dagan.ready; return null; } catch (e) { return e.message; }")
        message = driver.find_element(By.ID, "message")
        assert message.is_displayed() and message.text == error
        assert "batch 1 only" in error and "--batch 1" in error and "[-1, 64, 128]" in error, error
        assert driver.find_element(By.ID, "status").text == "error"


def _wait_for_map(driver, hw, want, what: str, timeout_s: float = 30.0) -> None:
    """The page decodes uploads asynchronously: poll its label map until it is `want`."""
    deadline = time.monotonic() + timeout_s
    while not np.array_equal(got := _maps(driver, hw)[0], want):
        assert time.monotonic() < deadline, f"{what}: label map never became the uploaded one ({np.mean(got == want):.3f} equal)"
        time.sleep(0.1)


def _integer_model(config, path) -> pathlib.Path:
    """A batch-1 model with the config's serving inputs and an exact integer image (seconds to convert):
    tells whether the page feeds label, instance and seed where they belong."""
    h, w = config.image_hw
    specs = [tf.TensorSpec([1, h, w], tf.int32, name="label")]
    specs += [] if config.no_instance else [tf.TensorSpec([1, h, w], tf.int32, name="instance")]
    specs += [tf.TensorSpec([1], tf.int32, name="seed")] if config.use_vae else []

    def serve(*args):
        inputs = dict(zip([s.name for s in specs], args))
        seed = tf.math.floormod(tf.reshape(inputs.get("seed", 0), [-1, 1, 1]), 1000)  # no int32 overflow
        value = inputs["label"] * 37 + inputs.get("instance", 0) * 11 + seed * 5
        channels = [tf.cast(tf.math.floormod(value + k * 85, 256), tf.uint8) for k in range(3)]
        return {"image": tf.stack(channels, axis=-1)}

    module = tf.Module()
    module.serve = tf.function(serve, input_signature=specs, autograph=False)
    saved = str(path.parent / f"{path.stem}_saved_model")
    tf.saved_model.save(module, saved, signatures={"serving_default": module.serve.get_concrete_function()})
    path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(saved).convert())
    return path


@pytest.mark.parametrize("changes", [{"use_vae": True}, {"no_instance": True}], ids=["vae-seed", "no-instance"])
def test_page_feeds_the_inputs_the_config_has(changes, config, browser, tmp_path):
    """use_vae: the seed field and "new style" reach the model's `seed`; no_instance: no instance input."""
    require_browser_and_runtime()
    config = config.replace(**changes)
    hw = config.image_hw
    model = _integer_model(config, tmp_path / "integer.tflite")
    runner = Interpreter(model_path=str(model)).get_signature_runner("serving_default")
    with SiteServer(write_site(tmp_path / "site", model, config, scene_count=2), port=0) as server:
        driver = browser(server.url, phone=False)
        run_js(driver, "await dagan.ready; await dagan.settled(); return null;")
        assert driver.find_element(By.ID, "seed").is_displayed() == bool(config.use_vae)
        if config.use_vae:  # "random scene" (of two: the other one), then the seed field and "new style"
            driver.find_element(By.ID, "scene").click()
            scene = np.fromfile(tmp_path / "site/scenes/01.label.bin", "<i4").reshape(hw)
            _wait_for_map(driver, hw, scene, "random scene")
            field = driver.find_element(By.ID, "seed")
            field.clear()
            field.send_keys("1234\n")
            seeds = [1234]
            driver.find_element(By.ID, "new-style").click()
            seeds.append(int(driver.find_element(By.ID, "seed").get_attribute("value")))
            assert seeds[1] != 1234
        else:  # upload a label PNG: grey values are labels, a coloured map goes back through the palette
            want = (np.arange(hw[0])[:, None] // 8 + np.arange(hw[1])[None, :] // 16) % config.label_nc
            palette = np.array([c["colour"] for c in class_table(config)], np.uint8)
            for name, picture in (("grey.png", want.astype(np.uint8)), ("colour.png", palette[want])):
                Image.fromarray(picture).save(tmp_path / name)
                driver.find_element(By.ID, "upload").send_keys(str(tmp_path / name))
                _wait_for_map(driver, hw, want, name)
            seeds = [None]
        got = run_js(driver, "const p = await dagan.settled(); return [b64(p.photo), b64(p.label), b64(p.instance), p.seed];")
        photo, label = decode(got[0], np.uint8, hw + (4,))[..., :3], decode(got[1], "<i4", hw)
        inputs = {"label": label[None]}
        if not config.no_instance:
            inputs["instance"] = decode(got[2], "<i4", hw)[None]
        if config.use_vae:
            assert got[3] == seeds[-1]
            inputs["seed"] = np.array([seeds[-1]], np.int32)
        np.testing.assert_array_equal(photo, runner(**inputs)["image"][0])
