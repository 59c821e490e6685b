"""The JavaScript a deck or the website needs, bundled into the build folder for offline rooms.

    python3 course.py slides --offline      # decks that open with no network at all
    python3 course.py site --offline        # the same for the website (equations included)

Each package is fetched **once** from the npm registry with ``npm pack`` into ``.cache/web/``
(ignored by git; copy that folder to another machine to skip the download there) and the files
the pages use are unpacked next to them under ``vendor/``:

=================================  =======  ================================================
package                            version  used for
=================================  =======  ================================================
``reveal.js``                      4.6.1    the decks (``dist/``, the speaker-notes plugin)
``requirejs``                      2.3.7    loads reveal.js and the widget modules
``jquery``                         3.7.1    nbconvert's deck template
``mathjax``                        2.7.9    equations (the TeX → CommonHTML subset, ~5 MB)
``@jupyter-widgets/html-manager``  1.0.15   the widget manager (``embed-amd.js``, 3.6 MB)
=================================  =======  ================================================

The widget manager renders the widgets that work with no kernel (lesson 8's
``BrowserThresholdExplorer``, whose maths runs in the page) from the widget state saved in the
page; anywidget's front-end is inlined in the page by :func:`coursekit.decks.with_widget_frontend`
(from the installed anywidget package, nothing to fetch). Kernel-driven widgets are shown as
their saved pictures (:func:`coursekit.decks.page_widgets`).
"""
from __future__ import annotations

import fnmatch
import shutil
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "web"
VENDOR = "vendor"
PACKAGES = {"reveal.js": "4.6.1", "requirejs": "2.3.7", "jquery": "3.7.1", "mathjax": "2.7.9",
            "@jupyter-widgets/html-manager": "1.0.15"}     # the widget manager of ipywidgets 8
# What each page needs from a package (paths inside the npm tarball's package/ folder; a name
# ending in / is a folder, one with * a pattern).
KEEP = {
    "reveal.js": ["dist/", "plugin/notes/", "LICENSE"],
    "requirejs": ["require.js"],
    "jquery": ["dist/jquery.min.js", "LICENSE.txt"],
    "mathjax": ["MathJax.js", "LICENSE", "config/TeX-AMS_CHTML-full.js", "config/Safe.js", "extensions/", "jax/input/TeX/",
                "jax/output/CommonHTML/", "jax/element/", "localization/en/", "fonts/HTML-CSS/TeX/woff/"],
    # embed-amd.js is one bundle; its style sheet names the icon fonts (woff2 first, which
    # Chromium and Firefox take), next to it under dist/.
    "@jupyter-widgets/html-manager": ["dist/embed-amd.js", "dist/*.woff2", "dist/*.woff"],
}


class AssetError(RuntimeError):
    """An asset could not be fetched (no network, no npm): the message says what to do."""


def tarball(name: str, cache: Path = CACHE) -> Path:
    """``.cache/web/<name>-<version>.tgz``, fetched with ``npm pack`` the first time."""
    version = PACKAGES[name]
    # npm pack names a scoped package's tarball without the @: jupyter-widgets-html-manager-1.0.15.tgz
    path = cache / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    how = (f"Fetch it on a machine with internet (`npm pack {name}@{version}` into {cache}) and copy "
           f"the {cache.name}/ folder here, or build without --offline (pages then load it from a CDN).")
    if npm is None:
        raise AssetError(f"Cannot fetch {name}@{version} for an offline build: `npm` is not installed "
                         f"(it comes with Node.js). {how}")
    print(f"Fetching {name}@{version} from the npm registry (once; cached in {cache}) ...", flush=True)
    try:
        done = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", str(cache),
                               "--fetch-retries=0", "--fetch-timeout=30000", "--silent"],
                              capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        raise AssetError(f"Fetching {name}@{version} from the npm registry timed out (no network?). {how}") from None
    if done.returncode != 0 or not path.exists():
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise AssetError(f"Could not fetch {name}@{version} from the npm registry ({detail[0]}). {how}")
    return path


def _unpack(name: str, dest: Path, cache: Path) -> None:
    keep = KEEP[name]
    with tarfile.open(tarball(name, cache)) as tar:
        members = []
        for m in tar.getmembers():
            rel = m.name.split("/", 1)[1] if "/" in m.name else m.name
            if m.isfile() and any(rel == k or (k.endswith("/") and rel.startswith(k))
                                  or ("*" in k and fnmatch.fnmatch(rel, k)) for k in keep):
                m.name = rel
                members.append(m)
        tar.extractall(dest, members=members, filter="data")


def bundle(build: Path, cache: Path = CACHE) -> dict[str, str]:
    """Unpack every package into ``build/vendor/``; return the URLs (relative to ``build``) for
    nbconvert: ``reveal_url_prefix``, ``require_js_url``, ``jquery_url``, ``mathjax_url``,
    ``widget_renderer_url``."""
    vendor = build / VENDOR
    for name in PACKAGES:
        target = vendor / name
        stamp = target / ".version"
        if stamp.exists() and stamp.read_text() == PACKAGES[name]:
            continue
        if target.exists():
            shutil.rmtree(target)
        _unpack(name, target, cache)
        stamp.write_text(PACKAGES[name])
    return {"reveal_url_prefix": f"{VENDOR}/reveal.js",
            "require_js_url": f"{VENDOR}/requirejs/require.js",
            "jquery_url": f"{VENDOR}/jquery/dist/jquery.min.js",
            "mathjax_url": f"{VENDOR}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
            "widget_renderer_url": f"{VENDOR}/@jupyter-widgets/html-manager/dist/embed-amd.js"}
