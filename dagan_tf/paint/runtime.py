"""The LiteRT.js runtime files the page loads: found where `npm ci` put them, copied into the site.

`package.json` + `package-lock.json` at the repository root pin `@litertjs/core` (and its one
dependency `@litertjs/wasm-utils`) by version and integrity; `npm ci` in the checkout installs
them under `node_modules/` once. `dagan-tf paint` then copies the few files the page needs into its
site folder, so the page never reaches a CDN and a written site works offline, on any static host.

Where the runtime is looked for, first hit wins: `$DAGAN_TF_LITERTJS` (a `node_modules` folder),
`./node_modules`, and the `node_modules` beside this package's checkout (editable installs).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

__all__ = ["LITERTJS_VARIABLE", "RUNTIME_FILES", "SETUP_COMMAND", "copy_runtime", "find_runtime"]

#: Environment variable naming a `node_modules` folder that holds `@litertjs/core`.
LITERTJS_VARIABLE = "DAGAN_TF_LITERTJS"
#: The one set-up command (run in the dagan-tf checkout, where package.json and the lock live).
SETUP_COMMAND = "npm ci"
#: (file under node_modules, path in the site). The page imports core's ES module, which imports
#: the bare name `@litertjs/wasm-utils` (the page's import map points it at the copy). `loadLiteRt`
#: picks one of the three WASM builds by the browser's features: threaded (relaxed SIMD + threads,
#: needs cross-origin isolation), plain (relaxed SIMD) or compat (neither). The JSPI build is only
#: for WebNN / WebGPU partitioning, which the page does not use, so it stays out (9 MB less).
RUNTIME_FILES = (
    ("@litertjs/core/dist/index.js", "litertjs/core/index.js"),
    ("@litertjs/wasm-utils/dist/index.js", "litertjs/wasm-utils/index.js"),
    ("@litertjs/core/package.json", "litertjs/core/package.json"),
) + tuple(
    (f"@litertjs/core/wasm/litert_wasm_{kind}.{ext}", f"litertjs/wasm/litert_wasm_{kind}.{ext}")
    for kind in ("internal", "compat_internal", "threaded_internal")
    for ext in ("js", "wasm")
)


def _candidates() -> list[pathlib.Path]:
    found = []
    if os.environ.get(LITERTJS_VARIABLE):
        found.append(pathlib.Path(os.environ[LITERTJS_VARIABLE]))
    found.append(pathlib.Path.cwd() / "node_modules")
    found.append(pathlib.Path(__file__).resolve().parents[2] / "node_modules")
    return found


def find_runtime() -> pathlib.Path:
    """The `node_modules` folder holding every file of RUNTIME_FILES.

    Raises FileNotFoundError naming the folders looked in and the set-up command.
    """
    candidates = _candidates()
    for folder in candidates:
        if all((folder / src).is_file() for src, _ in RUNTIME_FILES):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"LiteRT.js runtime (@litertjs/core) not found in {looked}: run `{SETUP_COMMAND}` once in the "
        f"dagan-tf checkout (package.json pins it by version and integrity), or set {LITERTJS_VARIABLE} "
        "to a node_modules folder that holds it")


def runtime_version(node_modules: pathlib.Path) -> str:
    """The installed `@litertjs/core` version."""
    return json.loads((node_modules / "@litertjs/core/package.json").read_text())["version"]


def copy_runtime(site_dir, node_modules: pathlib.Path | None = None) -> str:
    """Copy the runtime files into `site_dir` (about 28 MB); returns the `@litertjs/core` version."""
    node_modules = node_modules or find_runtime()
    for src, dst in RUNTIME_FILES:
        target = pathlib.Path(site_dir) / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(node_modules / src, target)
    return runtime_version(node_modules)
