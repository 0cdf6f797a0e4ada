"""Colour maps, grids, PNGs and the results page (dagan_tf/visualize.py)."""

import re

import numpy as np
from PIL import Image

from dagan_tf.config import DAGANConfig
from dagan_tf.visualize import (
    CITYSCAPES_PALETTE,
    colorize_label,
    image_grid,
    label_colormap,
    label_palette,
    save_png,
    to_uint8_truncated,
    write_results_page,
)


def _reference_labelcolormap(n):
    """The reference's string-based `labelcolormap` (SPADE util.py), bitwise branch."""

    def uint82bin(v, count=8):
        return "".join(str((v >> y) & 1) for y in range(count - 1, -1, -1))

    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        r = g = b = 0
        code = i + 1
        for j in range(7):
            s = uint82bin(code)
            r ^= int(s[-1]) << (7 - j)
            g ^= int(s[-2]) << (7 - j)
            b ^= int(s[-3]) << (7 - j)
            code >>= 3
        cmap[i] = (r, g, b)
    return cmap


def test_palette_equals_reference_and_is_distinct():
    for n in (3, 13, 152, 184):
        np.testing.assert_array_equal(label_colormap(n), _reference_labelcolormap(n))
    cmap = label_colormap(184)
    assert len({tuple(c) for c in cmap}) == 184  # every class its own colour
    np.testing.assert_array_equal(cmap[:4], [(128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128)])
    np.testing.assert_array_equal(label_colormap(35), CITYSCAPES_PALETTE)
    assert label_palette(DAGANConfig(label_nc=5)).shape == (7, 3)


def test_colorize_label_maps_ids_and_blackens_unknown():
    palette = label_colormap(4)
    label = np.array([[0, 1], [3, 255]])
    rgb = colorize_label(label, palette)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0], palette[0])
    np.testing.assert_array_equal(rgb[0, 1], palette[1])
    np.testing.assert_array_equal(rgb[1, 0], palette[3])
    np.testing.assert_array_equal(rgb[1, 1], (0, 0, 0))
    # batched with a trailing channel axis
    assert colorize_label(label[None, ..., None], palette).shape == (1, 2, 2, 3)


def test_to_uint8_truncated_matches_tensor2im():
    x = np.array([-1.0, -0.5, 0.0, 0.999, 1.0, 1.7], dtype=np.float32).reshape(1, 2, 3)
    want = np.clip((x + 1) / 2 * 255, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(to_uint8_truncated(x), want)
    assert to_uint8_truncated(x).tolist() == [[[0, 63, 127], [254, 255, 255]]]


def test_image_grid_layout():
    a = np.zeros((4, 5, 3), np.uint8)
    b = np.full((4, 6, 3), 7, np.uint8)
    grid = image_grid([[a, b], [b]], gap=2)
    assert grid.shape == (4 + 2 + 4, 5 + 2 + 6, 3)
    assert (grid[:4, 5:7] == 255).all() and (grid[4:6] == 255).all()
    assert (grid[:4, 7:] == 7).all() and (grid[6:, :6] == 7).all() and (grid[6:, 6:] == 255).all()


def test_results_page_links_every_image(tmp_path):
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    p = save_png(tmp_path / "images" / "a.png", img)
    np.testing.assert_array_equal(np.asarray(Image.open(p)), img)
    page = write_results_page(
        tmp_path / "index.html", "demo <results>",
        [("a", [("input_label", "images/a.png"), ("synthesized_image", "images/a.png")]),
         ("b&c", [("real_image", "images/b.png")])],
    )
    text = open(page, encoding="utf-8").read()
    assert re.findall(r"<img[^>]*src='([^']+)'", text) == ["images/a.png"] * 2 + ["images/b.png"]
    assert "demo &lt;results&gt;" in text and "b&amp;c" in text
    assert text.count("<table>") == 2


def test_label_palette_is_the_published_one_except_for_the_demo():
    """Datasets keep the reference's palette (ADE20K, Cityscapes, COCO-Stuff); the demo's classes get
    colours that read as them (sky blue, grass green...), its dontcare slot the reference's colour."""
    from dagan_tf.config import load_config
    from dagan_tf.data.scenes import DEMO_CLASS_COLOURS

    for preset in ("ade20k", "cityscapes", "coco"):
        config = load_config(preset)
        np.testing.assert_array_equal(label_palette(config), label_colormap(config.label_nc + 2))
    demo = load_config("demo")
    palette = label_palette(demo)
    np.testing.assert_array_equal(palette[:8], DEMO_CLASS_COLOURS)
    np.testing.assert_array_equal(palette[8:], label_colormap(10)[8:])
