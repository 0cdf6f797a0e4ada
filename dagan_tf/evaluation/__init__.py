"""Evaluation: the paper's metrics (FID, KID, mIoU, pixel accuracy), number for number with the tools the
papers used (pytorch-fid, clean-fid's KID, each segmenter's own evaluation script).

- `inception`: the FID Inception in Keras and its conversion from pytorch-fid's weights.
- `fid`: activations, statistics (pytorch-fid's `.npz`), FID, KID.
- `scores`: confusion matrix, pixel accuracy, mean / per-class IoU (DRN, mit-semseg, deeplab-pytorch rules).
- `evaluate`: a generator on the test split -> `metrics.json` and a metrics section on the results page.
- `callback`: `PeriodicEvaluation`, FID (and mIoU) during training.
- `weights`: user-passed weight files, or the published ones fetched once into the Keras cache.
- `segmenters`: DRN-D-105, UperNet-R101, DeepLab v2 in Keras with converters from their official
  checkpoints and each one's evaluation pipeline (docs/evaluation_segmenters.md).
Heavy modules are imported by their users, not here.
"""
