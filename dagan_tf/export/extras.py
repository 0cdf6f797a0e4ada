"""Optional extras of the export formats: a missing one is named with the `pip install` line that fixes it."""

from __future__ import annotations

import importlib

__all__ = ["FORMAT_EXTRAS", "MissingExtraError", "require_extra"]

#: format -> (extra, the modules it needs, the pip packages that bring them)
FORMAT_EXTRAS = {
    "tflite": ("lite", ("ai_edge_litert.interpreter",), "ai-edge-litert"),
    "onnx": ("onnx", ("tf2onnx", "onnx", "onnxruntime"), "tf2onnx, onnx, onnxruntime"),
}


class MissingExtraError(ImportError, ValueError):
    """An optional dependency is not installed; the message says which `pip install` line fixes it.

    An ImportError (what it is) and a ValueError (what the CLI reports as one line, exit code 2).
    """


def require_extra(format: str):
    """Import the modules export `format` needs; MissingExtraError naming the extra when one is missing.

    Returns the first module (e.g. `ai_edge_litert.interpreter` for 'tflite').
    """
    extra, modules, packages = FORMAT_EXTRAS[format]
    loaded = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError as e:
            raise MissingExtraError(
                f"export --format {format} needs the '{extra}' extra ({packages}), and {name} cannot be "
                f"imported ({type(e).__name__}: {e}); install it with: pip install \"dagan-tf[{extra}]\" "
                f"(in a source checkout: pip install -e \".[{extra}]\")", name=name) from e
    return loaded[0]
