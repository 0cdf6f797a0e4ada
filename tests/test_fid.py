"""fid.py against the tools themselves: pytorch-fid (PyPI, its CLI and functions) and a NumPy re-statement
of clean-fid's `kernel_distance` (GaParmar/clean-fid `cleanfid/fid.py`).

Tolerances: `dagan-tf fid` vs `python -m pytorch_fid` 1e-3 relative (measured in the test's output);
Frechet distance on the same statistics and KID on the same features 1e-10 relative.
"""

import os
from unittest import mock

import numpy as np
import pytest

from dagan_tf.evaluation.fid import (
    activation_statistics,
    frechet_distance,
    kernel_distance,
    list_image_files,
    load_statistics,
    save_statistics,
)

pytestmark = pytest.mark.slow


# --- clean-fid's kernel_distance, re-stated (it draws from NumPy's global generator) --------------------
def clean_fid_kernel_distance(feats1, feats2, num_subsets=100, max_subset_size=1000):
    n = feats1.shape[1]
    m = min(min(feats1.shape[0], feats2.shape[0]), max_subset_size)
    t = 0
    for _subset_idx in range(num_subsets):
        x = feats2[np.random.choice(feats2.shape[0], m, replace=False)]
        y = feats1[np.random.choice(feats1.shape[0], m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    kid = t / num_subsets / m
    return float(kid)


def _features(seed, n, d=64, shift=0.0):
    rng = np.random.default_rng(seed)
    return np.maximum(rng.standard_normal((n, d)) + shift, 0.0)  # ReLU-like, as pool3 features


@pytest.mark.parametrize("subset", [1000, 25])
def test_kid_equals_clean_fid(subset):
    feats1, feats2 = _features(0, 70), _features(1, 60, shift=0.3)
    np.random.seed(5)
    want = clean_fid_kernel_distance(feats1, feats2, num_subsets=20, max_subset_size=subset)
    got = kernel_distance(feats1, feats2, num_subsets=20, max_subset_size=subset, seed=5)
    assert got == pytest.approx(want, rel=1e-10)
    assert got > 1e-3  # shifted distributions: clearly positive
    same = kernel_distance(feats1[:35], feats1[35:], num_subsets=20, max_subset_size=subset, seed=5)
    assert abs(same) < got / 5  # unbiased: near 0 for one distribution


def _pytorch_fid_functions():
    pytest.importorskip("torch")
    pytest.importorskip("pytorch_fid")
    from tests.fid_reference import import_pytorch_fid

    return import_pytorch_fid()[1]


def test_frechet_distance_equals_pytorch_fid_incl_singular_products(capsys):
    fid_score = _pytorch_fid_functions()
    mu1, sigma1 = activation_statistics(_features(2, 20, d=48))  # 20 samples in 48 dims: singular
    mu2, sigma2 = activation_statistics(_features(3, 30, d=48, shift=0.5))
    want = fid_score.calculate_frechet_distance(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(want, rel=1e-10)
    # the eps branch: sqrtm of the product not finite -> both add 1e-6 to the diagonals and retry
    import scipy.linalg

    real_sqrtm = scipy.linalg.sqrtm
    results = []
    for fn in (fid_score.calculate_frechet_distance, frechet_distance):
        calls = []

        def sqrtm(a, disp=True, **kw):
            calls.append(1)
            if len(calls) == 1:
                return np.full_like(a, np.nan), 0.0
            return real_sqrtm(a, disp=disp, **kw)

        with mock.patch.object(scipy.linalg, "sqrtm", sqrtm):
            results.append(fn(mu1, sigma1, mu2, sigma2))
        assert len(calls) == 2
    assert results[1] == pytest.approx(results[0], rel=1e-10)
    assert capsys.readouterr().out.count("adding 1e-06 to diagonal of cov estimates") == 2


def test_statistics_npz_is_pytorch_fids_format(tmp_path):
    fid_score = _pytorch_fid_functions()
    mu, sigma = activation_statistics(_features(4, 10, d=8))
    path = save_statistics(tmp_path / "stats.npz", mu, sigma)
    theirs = fid_score.compute_statistics_of_path(path, None, 1, 8, "cpu")  # their .npz branch needs no model
    np.testing.assert_array_equal(theirs[0], mu)
    np.testing.assert_array_equal(theirs[1], sigma)
    with pytest.raises(ValueError, match="holds 8-dims features but --dims is 2048"):
        load_statistics(path, 2048)


def _write_pngs(folder, count, seed, size):
    """`count` PNGs of `size` (h, w): smooth colour fields plus stripes and noise, different per seed."""
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    h, w = size
    for i in range(count):
        coarse = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
        image = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR)).astype(np.int32)
        stripes = (np.arange(w)[None, :, None] // (2 + 3 * seed + i % 3)) % 2 * (30 + 60 * seed)
        image = np.clip(image + stripes + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"img_{i:03d}.png")
    return folder


@pytest.mark.usefixtures("single_torch_thread")
def test_cli_fid_equals_python_m_pytorch_fid(tmp_path, capsys):
    """50 + 50 PNGs, 48x64 and 56x40 (pytorch-fid stacks each batch, so one size per folder there;
    mixed sizes in one batch are covered by test_inception). pytorch-fid runs beside us."""
    pytest.importorskip("torch")
    pytest.importorskip("pytorch_fid")
    from dagan_tf.cli import main
    from tests.fid_reference import finish_pytorch_fid_cli, random_fid_weights, start_pytorch_fid_cli

    a = _write_pngs(tmp_path / "a", 50, seed=0, size=(48, 64))
    b = _write_pngs(tmp_path / "b", 50, seed=1, size=(56, 40))
    weights = tmp_path / "random_fid_inception.pth"
    random_fid_weights(weights, seed=1)
    theirs = start_pytorch_fid_cli(["--device", "cpu", "--num-workers", "0", a, b], weights, tmp_path / "torch_home")
    assert main(["fid", str(a), str(b), "--inception-weights", str(weights)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    want = float(finish_pytorch_fid_cli(theirs).strip().splitlines()[-1].split()[-1])
    assert last.startswith("FID: ")
    got = float(last.split()[-1])
    print(f"dagan-tf fid {got:.6f} vs python -m pytorch_fid {want:.6f}: relative {abs(got - want) / want:.2e}")
    assert want > 0.5 and got == pytest.approx(want, rel=1e-3)


def test_real_stats_round_trip(tmp_path, capsys):
    """--save-real-stats then --real-stats gives the same FID as the folders (64 dims: the stem only)."""
    pytest.importorskip("torch")
    from dagan_tf.cli import main
    from tests.fid_reference import random_fid_weights

    a = _write_pngs(tmp_path / "a", 4, seed=0, size=(48, 64))
    b = _write_pngs(tmp_path / "b", 5, seed=1, size=(56, 40))
    weights = tmp_path / "w.pth"
    random_fid_weights(weights, seed=2)
    common = ["--dims", "64", "--inception-weights", str(weights)]
    stats = tmp_path / "real.npz"
    assert main(["fid", str(a), str(b), "--save-real-stats", str(stats)] + common) == 0
    direct = float(capsys.readouterr().out.strip().splitlines()[-1].split()[-1])
    assert main(["fid", str(a), "--real-stats", str(stats)] + common) == 0
    reused = float(capsys.readouterr().out.strip().splitlines()[-1].split()[-1])
    assert direct > 0 and reused == pytest.approx(direct, rel=1e-12)
    assert load_statistics(stats, 64)[1].shape == (64, 64)


def test_fid_errors_name_the_input(tmp_path, capsys):
    from dagan_tf.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["fid", str(tmp_path / "missing"), str(tmp_path / "empty")]) == 2
    assert "path not found: " + str(tmp_path / "missing") in capsys.readouterr().err
    assert main(["fid", str(tmp_path / "empty")]) == 2
    assert "exactly one of path_b and --real-stats" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no images"):
        list_image_files(tmp_path / "empty")
    assert os.path.isdir(tmp_path / "empty")


def test_real_stats_are_checked_before_any_feature_is_computed(tmp_path, capsys):
    """A non-.npz file, a junk .npz, a .npz without mu / sigma, and one of other dims: each refused in one
    line naming it, before the Inception network is even built."""
    from dagan_tf.cli import main

    images = _write_pngs(tmp_path / "a", 2, seed=0, size=(32, 32))
    (tmp_path / "stats.txt").write_text("mu sigma")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    np.savez(tmp_path / "keys.npz", mean=np.zeros(64), cov=np.eye(64))
    np.savez(tmp_path / "dims.npz", mu=np.zeros(64), sigma=np.eye(64))
    np.savez(tmp_path / "shape.npz", mu=np.zeros(2048), sigma=np.zeros(2048))
    expected = {"stats.txt": "is a file but no pytorch-fid statistics .npz",
                "junk.npz": "is not a FID statistics .npz with 'mu' and 'sigma'",
                "keys.npz": "is not a FID statistics .npz with 'mu' and 'sigma'",
                "dims.npz": "holds 64-dims features but --dims is 2048",
                "shape.npz": "are not a mean vector and its square covariance"}
    with mock.patch("dagan_tf.evaluation.fid.InceptionFeatures", side_effect=AssertionError("features computed")):
        for name, message in expected.items():
            assert main(["fid", str(images), "--real-stats", str(tmp_path / name)]) == 2, name
            line = capsys.readouterr().err.strip().splitlines()[-1]
            assert line.startswith("dagan-tf fid: error: ") and str(tmp_path / name) in line and message in line, line
