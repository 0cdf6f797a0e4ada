"""FID and KID as the community's tools compute them.

- Activations: pytorch-fid's `get_activations` (images read as RGB, `/ 255`, resized to 299x299 bilinear
  without antialiasing, the FID Inception, spatial average for the smaller `--dims` blocks), kept in
  float64 as pytorch-fid's `pred_arr`.
- Statistics: `mu = mean(act, 0)`, `sigma = np.cov(act, rowvar=False)`; `.npz` files hold `mu` and
  `sigma`, pytorch-fid's `--save-stats` format (readable by it and by us).
- FID: pytorch-fid's `calculate_frechet_distance`, step by step: `scipy.linalg.sqrtm(sigma1 @ sigma2)`; if
  that is not finite, eps = 1e-6 is added to both diagonals and the root taken again; an imaginary part
  whose diagonal exceeds 1e-3 is an error, a smaller one is dropped.
- KID: clean-fid's `kernel_distance` (the unbiased MMD^2 estimate with the polynomial kernel
  `(x.y / d + 1)^3`, averaged over `num_subsets` random subsets of `min(n1, n2, max_subset_size)`
  features). clean-fid draws the subsets from NumPy's global generator; here from
  `np.random.RandomState(seed)` in the same order (features 2 then features 1), so a fixed seed gives a
  fixed number and the same one clean-fid gives after `np.random.seed(seed)`.
"""

from __future__ import annotations

import os
import pathlib
import warnings
from typing import Sequence

import numpy as np

__all__ = [
    "IMAGE_EXTENSIONS",
    "InceptionFeatures",
    "list_image_files",
    "activation_statistics",
    "save_statistics",
    "load_statistics",
    "frechet_distance",
    "kernel_distance",
    "statistics_of_path",
    "fid_of_paths",
]

#: pytorch-fid's `IMAGE_EXTENSIONS` (matched case-sensitively by its glob).
IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")


def list_image_files(folder: str | os.PathLike) -> list[str]:
    """The image files pytorch-fid reads from `folder`: top level only, its extensions, sorted paths."""
    path = pathlib.Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(f for ext in IMAGE_EXTENSIONS for f in path.glob(f"*.{ext}"))
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return [os.fspath(f) for f in files]


def _read_rgb(path: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except Exception as e:
        raise ValueError(f"cannot read image {path}: {type(e).__name__}: {e}") from None


class InceptionFeatures:
    """Batches of uint8 RGB images -> FID Inception features, float64 `(batch, dims)`.

    Args:
        weights: pytorch-fid's `.pth`, a converted `.weights.h5`, or None (published file, downloaded once).
        dims: feature size, 64, 192, 768 or 2048 (default 2048, pool3).
        batch_size: images per Inception call (default 50, pytorch-fid's).
        model: an already built FID Inception for `dims` (then `weights` is only recorded).
    """

    def __init__(self, weights=None, dims: int = 2048, batch_size: int = 50, model=None):
        from dagan_tf.evaluation.weights import load_fid_inception

        if batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
        self.dims = int(dims)
        self.batch_size = int(batch_size)
        if model is None:
            model, weights = load_fid_inception(weights, [self.dims])
        self.model = model
        self.weights_path = None if weights is None else os.fspath(weights)

    def _features(self, batch: np.ndarray) -> np.ndarray:
        # eager: a tf.function's trace of the 94 layers costs more than the eager overhead of a few
        # hundred batches (measured on CPU)
        out = self.model(batch, training=False)
        out = out[0] if isinstance(out, (list, tuple)) else out
        return np.asarray(out, dtype=np.float64)

    def __call__(self, images) -> np.ndarray:
        """`images`: uint8 `(n, H, W, 3)` or a list of `(H_i, W_i, 3)` arrays -> float64 `(n, dims)`."""
        from dagan_tf.evaluation.inception import preprocess_images

        n = len(images)
        out = np.empty((n, self.dims), dtype=np.float64)
        for start in range(0, n, self.batch_size):
            out[start:start + self.batch_size] = self._features(preprocess_images(images[start:start + self.batch_size]))
        return out

    def of_files(self, files: Sequence[str], progress: bool = True) -> np.ndarray:
        """Features of image files (read as pytorch-fid: PIL, RGB), with a progress bar."""
        from dagan_tf.progress import progress_bar

        bar = progress_bar(len(files), "image", verbose=progress)
        out = np.empty((len(files), self.dims), dtype=np.float64)
        for start in range(0, len(files), self.batch_size):
            chunk = [_read_rgb(f) for f in files[start:start + self.batch_size]]
            out[start:start + len(chunk)] = self(chunk)
            bar.update(start + len(chunk))
        return out


def activation_statistics(act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(mu, sigma)` of features `(n, dims)`, as pytorch-fid (`np.mean`, `np.cov(rowvar=False)`)."""
    act = np.asarray(act, dtype=np.float64)
    if act.ndim != 2 or act.shape[0] < 2:
        raise ValueError(f"FID statistics need at least 2 images, got features of shape {act.shape}")
    return np.mean(act, axis=0), np.cov(act, rowvar=False)


def save_statistics(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray) -> str:
    """Write pytorch-fid's `.npz` (`mu`, `sigma`; `np.savez_compressed` as its `--save-stats`)."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"statistics file {path} must end with .npz")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, mu=mu, sigma=sigma)
    return path


def load_statistics(path: str | os.PathLike, dims: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`(mu, sigma)` from a pytorch-fid `.npz`; checks the feature size against `dims` when given."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"statistics file not found: {path}")
    try:
        with np.load(path) as f:
            mu, sigma = f["mu"][:], f["sigma"][:]
    except Exception as e:
        raise ValueError(f"{path} is not a FID statistics .npz with 'mu' and 'sigma' ({type(e).__name__}: {e})") from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"statistics file {path}: 'mu' {mu.shape} and 'sigma' {sigma.shape} are not a mean "
                         "vector and its square covariance")
    if dims is not None and mu.shape != (dims,):
        raise ValueError(f"statistics file {path} holds {mu.shape[0]}-dims features but --dims is {dims}")
    return mu, sigma


def _sqrtm_quiet(a: np.ndarray) -> np.ndarray:
    """pytorch-fid's `linalg.sqrtm(a, disp=False)[0]` (no error printout); SciPy >= 1.18 has no `disp`."""
    from scipy import linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return linalg.sqrtm(a, disp=False)[0]
        except TypeError:
            return linalg.sqrtm(a)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2)), exactly as pytorch-fid (module doc)."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"FID statistics differ in size: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape} (different --dims?)")
    diff = mu1 - mu2
    covmean = _sqrtm_quiet(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        # pytorch-fid prints this and retries on slightly regularised covariances
        print(f"fid calculation produces singular product; adding {eps} to diagonal of cov estimates")
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"Imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def kernel_distance(feats1, feats2, num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0) -> float:
    """clean-fid's KID estimate (module doc); subsets drawn from `np.random.RandomState(seed)`."""
    feats1, feats2 = np.asarray(feats1, np.float64), np.asarray(feats2, np.float64)
    n = feats1.shape[1]
    m = min(feats1.shape[0], feats2.shape[0], max_subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 images on each side, got {feats1.shape[0]} and {feats2.shape[0]}")
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = feats2[rng.choice(feats2.shape[0], m, replace=False)]
        y = feats1[rng.choice(feats1.shape[0], m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / num_subsets / m)


def statistics_of_path(path: str, features: InceptionFeatures, progress: bool = True):
    """`(mu, sigma)` of an image folder, or read from a `.npz` (pytorch-fid's `compute_statistics_of_path`)."""
    if os.fspath(path).endswith(".npz"):
        return load_statistics(path, features.dims)
    return activation_statistics(features.of_files(list_image_files(path), progress=progress))


def _statistics_or_files(path, dims: int):
    """`(mu, sigma)` read from a `.npz` (checked against `dims`), or the image files of a folder."""
    path = os.fspath(path)
    if os.path.isfile(path):
        if not path.endswith(".npz"):
            raise ValueError(f"{path} is a file but no pytorch-fid statistics .npz; give an image folder or a .npz")
        return load_statistics(path, dims)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path not found: {path}")
    return list_image_files(path)


def fid_of_paths(
    path_a: str,
    path_b: str,
    *,
    dims: int = 2048,
    weights=None,
    batch_size: int = 50,
    save_stats_b: str | None = None,
    progress: bool = True,
) -> float:
    """FID between two image folders (either may be a `.npz` of statistics), as `python -m pytorch_fid A B`.

    Args:
        path_a, path_b: image folders or pytorch-fid `.npz` statistics.
        dims: Inception feature size (64, 192, 768, 2048).
        weights: Inception weights (see `InceptionFeatures`).
        batch_size: images per Inception call.
        save_stats_b: write `path_b`'s statistics to this `.npz` (e.g. the real photos, to reuse).
        progress: show progress bars.
    """
    # every input is checked before the first feature is computed (a bad .npz costs no minutes)
    sources = [_statistics_or_files(p, dims) for p in (path_a, path_b)]
    features = InceptionFeatures(weights, dims=dims, batch_size=batch_size)
    (mu_a, sigma_a), (mu_b, sigma_b) = (
        source if isinstance(source, tuple) else activation_statistics(features.of_files(source, progress=progress))
        for source in sources)
    if save_stats_b:
        save_statistics(save_stats_b, mu_b, sigma_b)
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
