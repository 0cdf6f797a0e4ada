"""scores.py against each segmenter's own evaluation script, re-stated here as written in its repository
(per-image loops over label maps, not confusion matrices), on random cases with absent classes (neither
present nor predicted, and predicted but absent) and ignored pixels. Tolerance: 1e-12 (1e-9 for
mit-semseg's accuracy, whose per-image `+ 1e-10` terms differ from one over the whole set)."""

import numpy as np
import pytest

from dagan_tf.evaluation.scores import confusion_matrix, segmentation_scores

IGNORE = 255


# --- fyu/drn segment.py: fast_hist(pred, label, n), per_class_iu, test(): nanmean; accuracy() -------------
def drn_reference(preds, labels, n):
    def fast_hist(pred, label, n):
        k = (label >= 0) & (label < n)
        return np.bincount(n * label[k].astype(int) + pred[k], minlength=n ** 2).reshape(n, n)

    hist = np.zeros((n, n))
    correct = total = 0
    for pred, label in zip(preds, labels):
        hist += fast_hist(pred.flatten(), label.flatten(), n)
        valid = label.flatten() != 255  # accuracy(): correct[target != 255]
        correct += (pred.flatten() == label.flatten())[valid].sum()
        total += valid.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        ious = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    return correct / total, np.nanmean(ious), ious


# --- CSAILVision eval.py + utils.accuracy / intersectionAndUnion (labels shifted to -1 = ignore) -------
def mit_semseg_reference(preds, labels, n):
    acc_sum = acc_count = 0.0
    inter_sum, union_sum = np.zeros(n), np.zeros(n)
    for pred, label in zip(preds, labels):
        label = np.where(label == IGNORE, -1, label)  # mit-semseg's dataset: seg - 1, unlabeled -> -1
        valid = label >= 0
        acc = float((valid * (pred == label)).sum()) / (valid.sum() + 1e-10)
        acc_sum += acc * valid.sum()
        acc_count += valid.sum()
        im_pred, im_lab = pred.copy() + 1, label.copy() + 1
        im_pred = im_pred * (im_lab > 0)
        intersection = im_pred * (im_pred == im_lab)
        area_i, _ = np.histogram(intersection, bins=n, range=(1, n))
        area_p, _ = np.histogram(im_pred, bins=n, range=(1, n))
        area_l, _ = np.histogram(im_lab, bins=n, range=(1, n))
        inter_sum += area_i
        union_sum += area_p + area_l - area_i
    iou = inter_sum / (union_sum + 1e-10)
    return acc_sum / acc_count, iou.mean(), iou


# --- kazuto1011/deeplab-pytorch libs/utils/metric.py: scores() ----------------------------------------
def deeplab_reference(preds, labels, n):
    def _fast_hist(label_true, label_pred, n_class):
        mask = (label_true >= 0) & (label_true < n_class)
        return np.bincount(n_class * label_true[mask].astype(int) + label_pred[mask],
                           minlength=n_class ** 2).reshape(n_class, n_class)

    hist = np.zeros((n, n))
    for lt, lp in zip(labels, preds):
        hist += _fast_hist(lt.flatten(), lp.flatten(), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.diag(hist).sum() / hist.sum()
        iu = np.diag(hist) / (hist.sum(axis=1) + hist.sum(axis=0) - np.diag(hist))
    return acc, np.nanmean(iu), iu


REFERENCES = {"drn": drn_reference, "mit_semseg": mit_semseg_reference, "deeplab": deeplab_reference}


def random_case(seed, n=12, images=5, hw=(24, 32)):
    """Labels use classes 0..n-4 (n-3.. n-1 absent) with ~15 % ignored pixels; predictions are right on
    ~half the pixels and use class n-2 (absent in the labels) but never n-1 (absent everywhere)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n - 3, size=(images,) + hw)
    labels[rng.random(labels.shape) < 0.15] = IGNORE
    preds = np.where(rng.random(labels.shape) < 0.5, labels, rng.integers(0, n - 1, size=labels.shape))
    preds[preds == IGNORE] = n - 2
    return preds.astype(np.int64), labels.astype(np.int64)


@pytest.mark.parametrize("rule", sorted(REFERENCES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_reference_scripts(rule, seed):
    n = 12
    preds, labels = random_case(seed, n)
    want_acc, want_miou, want_iou = REFERENCES[rule](preds, labels, n)
    got = segmentation_scores(confusion_matrix(labels, preds, n), rule)
    assert got["accuracy"] == pytest.approx(want_acc, rel=1e-9 if rule == "mit_semseg" else 1e-12)
    assert got["mean_iou"] == pytest.approx(want_miou, rel=1e-12)
    np.testing.assert_allclose(got["class_iou"], want_iou, rtol=1e-12, equal_nan=True)
    # the absent classes: both nan rules drop the unseen class and count the predicted-only one as 0
    if rule == "mit_semseg":
        assert got["class_iou"][n - 1] == 0.0 and got["class_iou"][n - 2] == 0.0
    else:
        assert np.isnan(got["class_iou"][n - 1]) and got["class_iou"][n - 2] == 0.0


def test_rules_differ_where_the_scripts_do():
    preds, labels = random_case(0)
    hist = confusion_matrix(labels, preds, 12)
    drn, mit = segmentation_scores(hist, "drn"), segmentation_scores(hist, "mit_semseg")
    # mit-semseg averages the absent class's 0 in: 12 classes instead of DRN's 11
    assert mit["mean_iou"] == pytest.approx(drn["mean_iou"] * 11 / 12, rel=1e-9)


def test_confusion_matrix_ignores_and_rejects():
    truth = np.array([[0, 1, 255], [2, 2, -1]])
    pred = np.array([[0, 2, 7], [2, 1, 9]])
    hist = confusion_matrix(truth, pred, 3)
    assert hist.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix(truth, np.full_like(pred, 3), 3)
    with pytest.raises(ValueError, match="unknown score rule 'x'"):
        segmentation_scores(hist, "x")
