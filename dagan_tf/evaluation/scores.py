"""Segmentation scores of generated images: a confusion matrix over the set, then accuracy and IoU as each
segmenter's own evaluation script computes them.

The confusion matrix `hist[true, pred]` counts pixels whose ground truth is a class (`0 <= true < C`);
anything else (the ignore index 255, the dontcare class) is left out, as every one of the scripts does.
From it, per rule:

- "drn" (fyu/drn `segment.py`, Cityscapes, DRN-D-105): `fast_hist` + `per_class_iu` =
  `diag / (row + col - diag)`; mIoU = `np.nanmean` of it, so a class neither present nor predicted (0/0)
  is dropped and a class predicted but never present counts as 0. Pixel accuracy as its `accuracy()`:
  correct / pixels whose label is not 255.
- "mit_semseg" (CSAILVision `eval.py` + `utils.py`, ADE20K, UperNet): IoU = `I / (U + 1e-10)` summed over
  the set, mIoU = the plain mean over all classes (an absent class counts 0, never nan); accuracy = the
  `AverageMeter` of per-image `correct / (valid + 1e-10)` weighted by `valid`, i.e. total correct / total
  valid pixels (ground truth >= 0).
- "deeplab" (kazuto1011 `libs/utils/metric.py`, COCO-Stuff, DeepLab v2): `scores()`: accuracy =
  `diag.sum() / hist.sum()`, mIoU = `np.nanmean(diag / (row + col - diag))` (the same nan rule as DRN).

Values are fractions in [0, 1] (the scripts print DRN's mIoU x100, mit-semseg's accuracy x100).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SCORE_RULES", "confusion_matrix", "segmentation_scores"]

SCORE_RULES = ("drn", "mit_semseg", "deeplab")


def confusion_matrix(truth, pred, num_classes: int) -> np.ndarray:
    """int64 `(num_classes, num_classes)`: `[t, p]` = pixels with ground truth t predicted as p.

    Args:
        truth: int class ids `(..., H, W)`; values outside [0, num_classes) (255, -1) are ignored.
        pred: int class ids of the same shape, each in [0, num_classes).
        num_classes: C.
    """
    truth = np.asarray(truth).reshape(-1).astype(np.int64)
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    if truth.shape != pred.shape:
        raise ValueError(f"ground truth and prediction differ in size: {truth.size} vs {pred.size} pixels")
    valid = (truth >= 0) & (truth < num_classes)
    bad = pred[valid][(pred[valid] < 0) | (pred[valid] >= num_classes)]
    if bad.size:
        raise ValueError(f"predicted class ids {np.unique(bad)[:5].tolist()} outside 0..{num_classes - 1}")
    counts = np.bincount(num_classes * truth[valid] + pred[valid], minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def segmentation_scores(hist: np.ndarray, rule: str = "drn") -> dict:
    """`{'accuracy', 'mean_iou', 'class_iou'}` from a confusion matrix by one script's `rule` (module doc).

    `class_iou` is a list (nan where the rule gives nan); `accuracy`/`mean_iou` are floats.
    """
    if rule not in SCORE_RULES:
        raise ValueError(f"unknown score rule {rule!r}; one of {', '.join(SCORE_RULES)}")
    hist = np.asarray(hist, dtype=np.float64)
    diag = np.diag(hist)
    truth_area, pred_area = hist.sum(axis=1), hist.sum(axis=0)
    union = truth_area + pred_area - diag
    if rule == "mit_semseg":
        iou = diag / (union + 1e-10)
        return {"accuracy": float(diag.sum() / (hist.sum() + 1e-10)), "mean_iou": float(iou.mean()),
                "class_iou": iou.tolist()}
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = diag / union
        accuracy = diag.sum() / hist.sum()
    mean_iou = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
    return {"accuracy": float(accuracy), "mean_iou": mean_iou, "class_iou": iou.tolist()}
