"""The paint-to-photo page: paint a label map in a phone's or desktop's browser, get a photo made
on the device by the exported TFLite generator running in LiteRT.js (WASM).

    from dagan_tf.paint import start_paint
    session = start_paint("G.keras", "configs/demo.yaml", port=0)   # site written, server running
    print(session.url)

`app.py` (export + site + server), `site.py` (the static folder), `runtime.py` (the LiteRT.js
files from npm), `server.py` (headers for WASM threads), `static/` (the page itself).
"""

from dagan_tf.paint.app import MAX_MODEL_BYTES, PaintSession, default_site_dir, prepare_model, serve_paint, start_paint
from dagan_tf.paint.runtime import SETUP_COMMAND, find_runtime
from dagan_tf.paint.server import SITE_HEADERS, SiteServer
from dagan_tf.paint.site import class_table, write_site

__all__ = [
    "MAX_MODEL_BYTES",
    "PaintSession",
    "SETUP_COMMAND",
    "SITE_HEADERS",
    "SiteServer",
    "class_table",
    "default_site_dir",
    "find_runtime",
    "prepare_model",
    "serve_paint",
    "start_paint",
    "write_site",
]
