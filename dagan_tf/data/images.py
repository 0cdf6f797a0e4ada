"""Reading image files: every failure names the file; photos come out 8-bit RGB and upright.

Photos differ from the reference's `Image.open(path).convert('RGB')` in two deliberate ways, both
fixing silent damage:
- 16-bit photos (PIL modes I;16*, and I, as 16-bit PNGs and TIFFs open) are scaled to 8 bits
  (`round(v / 257)`); PIL's `convert('RGB')` clips them at 255, which turns them almost white.
  16-bit RGB PNGs PIL itself opens as 8-bit RGB (the high byte of each sample).
- The EXIF orientation is applied (`ImageOps.exif_transpose`): a phone photo stored sideways with an
  orientation tag is seen as it is shown, so it lines up with its label map.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from dagan_tf.data.errors import DataError

__all__ = ["SIXTEEN_BIT_MODES", "open_image", "read_photo"]

#: PIL modes of one-channel images with more than 8 bits per pixel (scaled to 8 bits for photos).
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_SIXTEEN_BIT_MAX = 65535


def open_image(path: str, kind: str) -> Image.Image:
    """The decoded image file; DataError naming `kind` and `path` when it is missing or unreadable."""
    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise DataError(f"{kind} file not found: {path}") from None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError... for broken files
        raise DataError(f"cannot read {kind} file {path}: {type(e).__name__}: {e}") from None
    return img


def _sixteen_to_eight_bit(img: Image.Image) -> Image.Image:
    """A 16-bit one-channel image -> 8-bit RGB, v -> round(v / 257) (65535 -> 255)."""
    values = np.clip(np.asarray(img).astype(np.int64), 0, _SIXTEEN_BIT_MAX)
    gray = ((values * 255 + _SIXTEEN_BIT_MAX // 2) // _SIXTEEN_BIT_MAX).astype(np.uint8)
    return Image.fromarray(np.repeat(gray[..., None], 3, axis=-1), "RGB")


def read_photo(path: str) -> Image.Image:
    """A photo file as an upright 8-bit RGB PIL image (module docstring); DataError naming the file."""
    img = open_image(path, "image")
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as e:  # a broken EXIF block: the pixels are still fine
        raise DataError(f"image file {path} has an unreadable EXIF orientation ({type(e).__name__}: {e}); "
                        "strip its EXIF data or save it again") from None
    if img.mode in SIXTEEN_BIT_MODES:
        return _sixteen_to_eight_bit(img)
    if img.mode == "RGB":
        return img
    try:
        return img.convert("RGB")
    except Exception as e:
        raise DataError(f"cannot convert image file {path} (PIL mode {img.mode!r}) to RGB: {e}") from None
