"""Shared by test_paint.py (the page in Chromium) and test_paint_app.py (`start_paint`, `dagan-tf paint`,
the site and its server): the small demo generator they paint with, its sites, Python LiteRT's photo.

The generator: configs/demo.yaml at 64x128 maps, ngf 8, random weights made input-sensitive
(`helpers.calibrated_generator`), saved as G.keras; `paint_fixtures` gives each test module its fixtures.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from dagan_tf.config import load_config
from dagan_tf.paint import start_paint
from tests.browser import require_browser_and_runtime
from tests.helpers import calibrated_generator

OVERRIDES = {"ngf": 8, "crop_size": 128, "load_size": 128}  # 64x128 maps


def paint_fixtures():
    """The module fixtures `config`, `generator` and `sites` of a paint test file, fresh for each
    module that calls it: `config, generator, sites = paint_fixtures()`.

    `sites(quantize)` -> a running PaintSession of `generator` (saved as G.keras), each quantisation
    exported once per module; their servers stop with the module.
    """
    @pytest.fixture(scope="module")
    def config():
        return load_config("configs/demo.yaml", OVERRIDES)

    @pytest.fixture(scope="module")
    def generator(config):
        return calibrated_generator(config, seed=3)

    @pytest.fixture(scope="module")
    def sites(config, generator, tmp_path_factory):
        require_browser_and_runtime()
        checkpoint = tmp_path_factory.mktemp("paint") / "G.keras"
        generator.save(checkpoint)
        sessions = {}

        def get(quantize):
            if quantize not in sessions:
                site = tmp_path_factory.mktemp(f"site_{quantize}")
                sessions[quantize] = start_paint(checkpoint, config, quantize=quantize, site_dir=site, port=0)
            return sessions[quantize]

        yield get
        for session in sessions.values():
            session.server.stop()

    return config, generator, sites


@functools.lru_cache(maxsize=None)
def litert_runner(model_path: str):
    return Interpreter(model_path=model_path).get_signature_runner("serving_default")


def python_litert(model_path, label, instance) -> np.ndarray:
    """Python LiteRT's photo of one (H, W) label + instance map: uint8 (H, W, 3)."""
    runner = litert_runner(str(model_path))
    return runner(label=label[None].astype(np.int32), instance=instance[None].astype(np.int32))["image"][0]
