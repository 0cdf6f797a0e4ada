"""How close a generator's photos of the demo's procedural scenes are to the real ones (NumPy / SciPy).

The demo scenes (`dagan_tf.data.demo`) come with their real photos, so a generator can be scored pixel
by pixel, beside the simplest painter there is:
- `class_mean_painting`: every pixel painted its class's mean real colour (`class_mean_colours`). It
  knows every class's colour and nothing of light, texture or position: a generator that has learnt
  only the palette ties with it; one that has learnt the scenes' gradients and shading beats it.
- `blurred_distance`: mean absolute difference in 8-bit levels after a Gaussian blur of both pictures
  (sigma `BLUR_SIGMA` pixels), so that fine texture, which a GAN draws plausibly but never in the
  photo's exact place, does not count, while colour, shading and layout do.
- `mean_colour_errors`: per class, how far the generated pixels' mean colour is from the real one
  (largest channel difference, 8-bit levels).
- `colour_class_accuracy`: the share of pixels whose colour is nearest their own class's real mean
  colour (among the classes of that picture); the demo prints it before and after training.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLUR_SIGMA", "blurred_distance", "class_mean_colours", "class_mean_painting", "colour_class_accuracy",
           "mean_colour_errors"]

#: Gaussian blur of `blurred_distance`, in pixels of a 256x128 scene (scaled with the picture's width).
BLUR_SIGMA = 3.0
_REFERENCE_WIDTH = 256


def class_mean_colours(images: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean colour of every class over `images` `(N, H, W, 3)` labelled `(N, H, W)` class ids:
    `(num_classes, 3)` float64, NaN for classes that do not occur."""
    pixels = np.asarray(images, np.float64).reshape(-1, 3)
    ids = np.asarray(labels).reshape(-1)
    means = np.full((num_classes, 3), np.nan)
    for c in range(num_classes):
        hit = ids == c
        if hit.any():
            means[c] = pixels[hit].mean(axis=0)
    return means


def colour_class_accuracy(images: np.ndarray, labels: np.ndarray, class_colours: np.ndarray) -> float:
    """Share of pixels whose colour is nearest to their own class's colour among the classes present
    in that picture (`images` `(N, H, W, 3)` uint8 or float, `labels` `(N, H, W)` ids)."""
    images = np.asarray(images, np.float64)
    labels = np.asarray(labels)
    right = total = 0
    for image, label in zip(images, labels):
        present = [c for c in np.unique(label) if c < len(class_colours) and not np.isnan(class_colours[c]).any()]
        if len(present) < 2:
            continue
        mask = np.isin(label, present)
        dist = ((image[mask][:, None, :] - class_colours[present][None]) ** 2).sum(-1)
        nearest = np.asarray(present)[dist.argmin(-1)]
        right += int((nearest == label[mask]).sum())
        total += int(mask.sum())
    return right / max(total, 1)


def class_mean_painting(labels: np.ndarray, class_colours: np.ndarray) -> np.ndarray:
    """Every pixel of `labels` `(N, H, W)` painted its class's colour: `(N, H, W, 3)` uint8 (classes
    without a colour black)."""
    colours = np.nan_to_num(np.asarray(class_colours, np.float64), nan=0.0)
    return np.clip(np.round(colours[np.asarray(labels)]), 0, 255).astype(np.uint8)


def blurred_distance(images: np.ndarray, reference: np.ndarray, sigma: float | None = None) -> float:
    """Mean absolute difference (8-bit levels) of `images` and `reference` `(N, H, W, 3)` after a
    Gaussian blur of sigma `sigma` pixels (default `BLUR_SIGMA` scaled to the width) in H and W."""
    from scipy.ndimage import gaussian_filter

    a, b = np.asarray(images, np.float64), np.asarray(reference, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"blurred_distance: shapes {a.shape} and {b.shape} differ")
    sigma = BLUR_SIGMA * a.shape[2] / _REFERENCE_WIDTH if sigma is None else sigma
    blur = (0, sigma, sigma, 0)
    return float(np.mean(np.abs(gaussian_filter(a, blur, mode="nearest") - gaussian_filter(b, blur, mode="nearest"))))


def mean_colour_errors(images: np.ndarray, reference: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """`{class id: largest channel difference (8-bit levels) between the mean colour of the class's pixels
    in `images` and in `reference`}` for the classes present."""
    fake = class_mean_colours(images, labels, num_classes)
    real = class_mean_colours(reference, labels, num_classes)
    return {c: float(np.abs(fake[c] - real[c]).max()) for c in range(num_classes) if not np.isnan(real[c]).any()}
