"""Pictures for people: label colour maps, image grids, PNG files and the results page.

Pure NumPy / Pillow (no TensorFlow), so the results page can be written anywhere.

The label palette is the reference's `util.labelcolormap(N)` (SPADE, after pix2pixHD): for N = 35
the Cityscapes colours, otherwise the PASCAL-VOC-like bit-interleaving palette, giving class `i` the
colour of id `i + 1` (so class 0 is not black). The reference's results pages call it with
N = label_nc + 2, which always takes the bitwise branch; `label_palette(config)` does the same.
"""

from __future__ import annotations

import html
import os
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from dagan_tf.files import atomic_path

__all__ = [
    "CITYSCAPES_PALETTE",
    "label_colormap",
    "label_palette",
    "colorize_label",
    "label_colours",
    "to_uint8_truncated",
    "image_row",
    "image_grid",
    "save_png",
    "write_results_page",
]

#: The reference's fixed colours for the 35 Cityscapes label ids (`labelcolormap(35)`).
CITYSCAPES_PALETTE = np.array(
    [(0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81),
     (128, 64, 128), (244, 35, 232), (250, 170, 160), (230, 150, 140), (70, 70, 70), (102, 102, 156),
     (190, 153, 153), (180, 165, 180), (150, 100, 100), (150, 120, 90), (153, 153, 153),
     (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180),
     (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 0, 90), (0, 0, 110),
     (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 142)],
    dtype=np.uint8,
)


def label_colormap(n: int) -> np.ndarray:
    """`(n, 3)` uint8 palette: colour of every label id `0..n-1` (the reference's `labelcolormap`)."""
    if n == 35:
        return CITYSCAPES_PALETTE.copy()
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        r = g = b = 0
        code = i + 1  # the reference gives id 0 a colour too
        for j in range(7):
            r ^= (code & 1) << (7 - j)
            g ^= ((code >> 1) & 1) << (7 - j)
            b ^= ((code >> 2) & 1) << (7 - j)
            code >>= 3
        cmap[i] = (r, g, b)
    return cmap


def label_palette(config) -> np.ndarray:
    """The palette the results pages and the paint page use for `config`: `label_colormap(label_nc + 2)`,
    as the reference's visualizer (covers every class, the dontcare id `label_nc` and one spare); a
    dataset with colours of its own (the demo's: sky blue, grass green...) has those for its classes."""
    from dagan_tf.data.registry import get

    palette = label_colormap(config.label_nc + 2)
    own = get(config.dataset_mode).class_colours
    if len(own) == config.label_nc:
        palette[:config.label_nc] = np.asarray(own, np.uint8)
    return palette


def colorize_label(label: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Label ids `(..., height, width)` int -> colours `(..., height, width, 3)` uint8.

    Ids outside the palette (e.g. an unmapped 255) are black, as in the reference's `Colorize`.
    """
    label = np.asarray(label)
    if label.ndim >= 3 and label.shape[-1] == 1:
        label = label[..., 0]
    ids = label.astype(np.int64)
    inside = (ids >= 0) & (ids < len(palette))
    out = palette[np.where(inside, ids, 0)]
    out[~inside] = 0
    return out


def label_colours(values: np.ndarray, config) -> np.ndarray:
    """Label maps as their files store them `(..., height, width)` -> the results pages' colours
    `(..., height, width, 3)` uint8 (class ids by the dataset's rule, then `label_palette`)."""
    from dagan_tf.data.registry import label_values

    ids = label_values(config).class_ids(values, config.label_nc)
    return colorize_label(ids, label_palette(config))


def to_uint8_truncated(image: np.ndarray) -> np.ndarray:
    """Image in [-1, 1] `(..., height, width, 3)` -> uint8, as the reference's `tensor2im`
    (`(x + 1) / 2 * 255`, clipped, truncated): its results pages and the pictures FID is computed on.
    (The exports round instead: `dagan_tf.models.to_uint8_rounded`.)"""
    x = (np.asarray(image, dtype=np.float32) + 1.0) / 2.0 * 255.0
    return np.clip(x, 0, 255).astype(np.uint8)


def image_row(images: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """Equal-height uint8 images `(height, width_i, 3)` side by side, `gap` white pixels between."""
    height = images[0].shape[0]
    for i, img in enumerate(images):
        if img.shape[0] != height or img.ndim != 3 or img.shape[-1] != 3:
            raise ValueError(f"image_row: image {i} has shape {img.shape}; expected ({height}, w, 3)")
    spacer = np.full((height, gap, 3), 255, dtype=np.uint8)
    parts = []
    for i, img in enumerate(images):
        if i and gap:
            parts.append(spacer)
        parts.append(img.astype(np.uint8))
    return np.concatenate(parts, axis=1)


def image_grid(rows: Sequence[Sequence[np.ndarray]], gap: int = 2) -> np.ndarray:
    """Rows of uint8 images -> one uint8 picture `(height, width, 3)`; rows stacked with `gap`.

    E.g. `image_grid([[label_rgb, fake, real] for each example])` is the training display.
    """
    made = [image_row(r, gap) for r in rows]
    width = max(r.shape[1] for r in made)
    made = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in made]
    spacer = np.full((gap, width, 3), 255, dtype=np.uint8)
    parts = []
    for i, r in enumerate(made):
        if i and gap:
            parts.append(spacer)
        parts.append(r)
    return np.concatenate(parts, axis=0)


def save_png(path: str | os.PathLike, image: np.ndarray) -> str:
    """Write a uint8 `(height, width, 3)` (or `(height, width)`) array as PNG, creating folders."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
    return path


def write_results_page(
    path: str | os.PathLike,
    title: str,
    rows: Iterable[tuple[str, Sequence[tuple[str, str]]]],
    width: int = 256,
    refresh: int = 0,
) -> str:
    """Write an HTML page like the reference's `util/html.py` results page.

    Args:
        path: the `index.html` to write (atomically).
        title: page title and heading.
        rows: `(name, [(caption, image_path), ...])` per example; image paths relative to the page.
        width: displayed image width in pixels.
        refresh: seconds between automatic reloads (0: none).
    Returns the page's path.
    """
    path = os.fspath(path)
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        "<html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{int(refresh)}'>" if refresh else "",
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif} td{text-align:center;vertical-align:top;padding:4px}"
        " p{margin:2px;word-break:break-all}</style>",
        "</head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    for name, cells in rows:
        out.append(f"<h3>{esc(name)}</h3>")
        out.append("<table><tr>")
        for caption, image_path in cells:
            src = esc(image_path.replace(os.sep, "/"), quote=True)
            out.append(
                f"<td><a href='{src}'><img style='width:{int(width)}px' src='{src}'></a>"
                f"<p>{esc(caption)}</p></td>"
            )
        out.append("</tr></table>")
    out.append("</body></html>")
    with atomic_path(path, what="results page") as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(line for line in out if line) + "\n")
    return path


def add_metrics_section(page: str | os.PathLike, title: str, rows: Sequence[tuple[str, str]]) -> str:
    """Insert a table `rows` = [(name, value), ...] under the heading of a page written by
    `write_results_page` (rewritten atomically; an earlier metrics section is replaced)."""
    page = os.fspath(page)
    with open(page, encoding="utf-8") as f:
        text = f.read()
    start, end = text.find("<div class='metrics'>"), text.find("</div><!-- metrics -->")
    if start >= 0 and end >= 0:
        text = text[:start] + text[end + len("</div><!-- metrics -->\n"):]
    esc = html.escape
    cells = "".join(f"<tr><td>{esc(name)}</td><td>{esc(value)}</td></tr>" for name, value in rows)
    section = (f"<div class='metrics'><h2>{esc(title)}</h2><table border='1'>{cells}</table>"
               "</div><!-- metrics -->\n")
    at = text.find("</h1>")
    at = at + len("</h1>\n") if at >= 0 else text.find("<body>") + len("<body>")
    with atomic_path(page, what="results page") as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text[:at] + section + text[at:])
    return page
