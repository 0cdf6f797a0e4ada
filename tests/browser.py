"""Headless Chromium for the paint page's tests and bench: a driver that never reaches the internet,
a JS bridge for typed arrays, and real W3C pointer input (touch or mouse).

Debian's `chromium` and `chromium-driver` are version-matched; giving the driver's path (and
SE_AVOID_STATS) keeps Selenium Manager from looking for drivers online.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import tempfile

import numpy as np
import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput

from dagan_tf.paint import find_runtime

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

PHONE = {"width": 390, "height": 844, "pixelRatio": 2.0, "touch": True}
DESKTOP = (1280, 900)


def require_browser_and_runtime():
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


def chromium_driver(phone: bool, script_timeout_s: float = 120):
    """Headless Chromium at phone size (390x844, mobile emulation with touch) or desktop size, in a
    fresh profile (removed by `quit_driver`)."""
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
    driver.set_script_timeout(script_timeout_s)
    driver.profile_dir = profile
    return driver


def quit_driver(driver) -> None:
    driver.quit()
    shutil.rmtree(driver.profile_dir, ignore_errors=True)


# JS helpers: typed arrays leave the page as base64 (WebDriver has no typed-array transfer)
B64 = ("const b64 = (a) => { const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength); let s = '';"
       " for (let i = 0; i < u.length; i += 32768) s += String.fromCharCode.apply(null, u.subarray(i, i + 32768));"
       " return btoa(s); };")


def run_js(driver, body: str):
    """Run async JS `body` (may `await`; its `return` value comes back) with the b64 helper."""
    script = (f"const done = arguments[arguments.length - 1]; {B64} "
              f"(async () => {{ {body} }})().then(done, (e) => done({{error: String(e && e.message || e)}}));")
    result = driver.execute_async_script(script)
    if isinstance(result, dict) and "error" in result:
        raise AssertionError(f"page error: {result['error']}")
    return result


def decode(text: str, dtype, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype).reshape(shape)


def pointer(driver, touch: bool):
    kind = interaction.POINTER_TOUCH if touch else interaction.POINTER_MOUSE
    # 25 ms per move (Selenium's default is 250 ms): a quick stroke, still several pointermove events
    return ActionBuilder(driver, mouse=PointerInput(kind, "finger" if touch else "mouse"), duration=25)


def offset(canvas, fx: float, fy: float) -> tuple[int, int]:
    """Fractions of the canvas -> W3C offsets from its centre (CSS pixels)."""
    return int((fx - 0.5) * canvas.size["width"]), int((fy - 0.5) * canvas.size["height"])


def stroke(driver, canvas, touch, start, end, steps=8):
    actions = pointer(driver, touch)
    actions.pointer_action.move_to(canvas, *offset(canvas, *start)).pointer_down()
    for s in range(1, steps + 1):
        t = s / steps
        actions.pointer_action.move_to(canvas, *offset(canvas, start[0] + (end[0] - start[0]) * t,
                                                         start[1] + (end[1] - start[1]) * t))
    actions.pointer_action.pointer_up()
    actions.perform()
    settle_input(driver)


def tap(driver, canvas, touch, at):
    actions = pointer(driver, touch)
    actions.pointer_action.move_to(canvas, *offset(canvas, *at)).pointer_down().pointer_up()
    actions.perform()
    settle_input(driver)


def settle_input(driver) -> None:
    """Wait until the page has handled the input just sent: `perform()` returns once Chromium has
    queued the events, and on a busy machine the last pointer moves can still be pending. Chromium
    delivers queued input before animation-frame callbacks, so two frames later it has been handled."""
    run_js(driver, "await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));")


def distinct_colours(png: bytes) -> int:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(np.uint32)
    return len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]))  # one int per colour: fast unique
