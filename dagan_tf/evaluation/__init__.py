"""Evaluation: FID/KID, segmentation scores and the segmenters of the papers' protocol."""
