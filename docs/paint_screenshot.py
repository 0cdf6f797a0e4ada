"""Make the README's picture, docs/paint_phone.png: `dagan-tf paint`'s page at phone size (390x844, touch)
with the shipped demo generator (int8, as `dagan-tf paint` serves it), a painted map and its photo.

    python docs/paint_screenshot.py [--checkpoint demo] [--out docs/paint_phone.png]

Needs what the paint tests need (Debian's chromium + chromium-driver, `npm ci`). The page opens on a
random scene; three strokes are painted on it with touch input (a road, a tree, a cloud); the
screenshot is cropped to the page's content and halved.
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (class value, brush size, start, end); points as fractions of the map: a road up the middle, a
#: tree, a cloud (brush sizes in map pixels, the page's slider).
STROKES = ((7, 10, (0.55, 0.98), (0.5, 0.62)), (5, 16, (0.18, 0.74), (0.19, 0.66)),
           (1, 10, (0.68, 0.12), (0.86, 0.13)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="demo", help="the generator (default: the shipped demo)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "paint_phone.png"), help="the PNG to write")
    args = parser.parse_args(argv)

    from PIL import Image
    from selenium.webdriver.common.by import By

    from dagan_tf.paint import start_paint
    from tests.browser import chromium_driver, quit_driver, run_js, stroke

    with tempfile.TemporaryDirectory(prefix="paint_shot_") as work:
        session = start_paint(args.checkpoint, site_dir=pathlib.Path(work) / "site", port=0)
        driver = chromium_driver(phone=True)
        try:
            driver.get(session.url)
            run_js(driver, "await dagan.ready; await dagan.settled(); return 0;")
            canvas = driver.find_element(By.ID, "map")
            for value, size, start, end in STROKES:
                driver.find_element(By.CSS_SELECTOR, f'.swatch[data-value="{value}"]').click()
                driver.execute_script(f"document.getElementById('size').value = {size};")
                stroke(driver, canvas, True, start, end)
            ms = run_js(driver, "const p = await dagan.settled(); return p.ms;")
            page = driver.find_element(By.TAG_NAME, "main").rect
            shot = Image.open(io.BytesIO(driver.get_screenshot_as_png()))
        finally:
            quit_driver(driver)
            session.server.stop()
    scale = shot.width / 390  # device pixels per CSS pixel
    box = [int(v * scale) for v in (0, 0, 390, page["y"] + page["height"] + 8)]
    picture = shot.crop(box)
    picture = picture.resize((picture.width // 2, picture.height // 2), Image.LANCZOS)
    picture.save(args.out, optimize=True)
    print(f"wrote {args.out} ({picture.width}x{picture.height}; the last photo took {ms:.0f} ms in the page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
