"""dagan-tf: DAGAN (Dual Attention GANs for Semantic Image Synthesis) in TensorFlow / Keras 3.

Importing the package registers every custom layer and network class with Keras as soon as Keras
is imported (now, if it already is), so `keras.saving.load_model` reads our generator, discriminator,
encoder and Synthesizer `.keras` files after `import dagan_tf`. Importing the package, or its light
modules (`dagan_tf.config`, `dagan_tf.data.registry`), loads no TensorFlow by itself.
"""

__version__ = "0.2.0"

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402

#: Names this package offers lazily (PEP 562): module attributes, and what they come from.
_LAZY = {"layers": "dagan_tf.layers", "losses": "dagan_tf.losses", "models": "dagan_tf.models",
         "DAGANConfig": "dagan_tf.config", "load_config": "dagan_tf.config"}


def register_keras_objects() -> None:
    """Import the modules whose classes Keras must know to load our `.keras` files (they register on import)."""
    for name in ("dagan_tf.layers", "dagan_tf.losses", "dagan_tf.models"):
        importlib.import_module(name)


class _RegisterAfterKeras:
    """A `sys.meta_path` finder that lets `import keras` finish, then calls `register_keras_objects`
    (once) as soon as no import of one of our modules is under way: a module of ours that imports
    keras midway (`import dagan_tf.layers` first thing in a process) finishes its own import first,
    since registering imports the modules that need it."""

    def __init__(self):
        self.keras_loaded = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras" and not fullname.startswith("dagan_tf."):
            return None
        spec = None
        for finder in sys.meta_path:  # the real spec, found without this finder
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            load = spec.loader.exec_module

            def load_then_register(module):
                load(module)
                self.keras_loaded = self.keras_loaded or fullname == "keras"
                self.register_when_free(fullname)

            spec.loader.exec_module = load_then_register
        return spec

    def register_when_free(self, finishing: str) -> None:
        """Registers once keras is loaded and no module of ours but `finishing` is mid-import."""
        busy = [name for name, module in list(sys.modules.items())
                if name.startswith("dagan_tf.") and name != finishing
                and getattr(getattr(module, "__spec__", None), "_initializing", False)]
        if not self.keras_loaded or busy or self not in sys.meta_path:
            return
        sys.meta_path.remove(self)
        register_keras_objects()


if "keras" in sys.modules:
    register_keras_objects()
else:
    sys.meta_path.insert(0, _RegisterAfterKeras())


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if module.__name__.endswith(name) else getattr(module, name)
