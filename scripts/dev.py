#!/usr/bin/env python3
"""Build the book or run the tests in a project-local virtual environment.

    python3 scripts/dev.py book   # execute every notebook and build the HTML book
    python3 scripts/dev.py test   # run tests/ and every notebook under pytest

Both commands create the virtual environment when it is missing (``.venv`` in
the repository root, or the path in ``EMMS_VENV``) and install the project in
editable mode with the ``book`` or ``test`` extra. The install is skipped when
a stamp file in the environment records the same ``pyproject.toml`` hash for
that extra, and ``--reinstall`` forces it.

Uses only the standard library, so any Python 3.10 or newer can run it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

MIN_PYTHON = (3, 10)
REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_ENV_VAR = "EMMS_VENV"
STAMP_NAME = "emms-ref-install.json"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# Seconds per notebook cell under nbval, the same as execute.timeout in _config.yml.
CELL_TIMEOUT_S = 1800

# Defaults for every command. A variable already set in the caller's
# environment wins, so HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0 re-enables
# downloads from the Hugging Face hub on a machine with network access.
OFFLINE_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # Let the kernel spec installed in the virtual environment take
    # precedence over one in the user's Jupyter directory, so notebooks run
    # with the environment's Python.
    "JUPYTER_PREFER_ENV_PATH": "1",
}


def log(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def venv_path() -> Path:
    configured = os.environ.get(VENV_ENV_VAR)
    if configured:
        return Path(configured).expanduser().resolve()
    return REPO_ROOT / ".venv"


def venv_bin(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin")


def venv_python(venv: Path) -> Path:
    return venv_bin(venv) / ("python.exe" if os.name == "nt" else "python")


def run(command: list[str], env: dict[str, str]) -> int:
    log("$ " + " ".join(str(part) for part in command))
    process = subprocess.Popen([str(part) for part in command], cwd=REPO_ROOT, env=env)
    try:
        return process.wait()
    except BaseException:
        # SIGTERM (a SystemExit raised by the handler that main installs) or
        # Ctrl-C: stop the child too, so that no pytest or jupyter-book run
        # outlives this script, e.g. when a CI time limit ends it.
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        raise


def exit_on_sigterm(signal_number: int, frame) -> None:
    raise SystemExit(128 + signal_number)


def run_or_exit(command: list[str], env: dict[str, str], what: str) -> None:
    status = run(command, env)
    if status != 0:
        log(f"{what} failed with exit status {status}.")
        sys.exit(status)


def ensure_venv(venv: Path, env: dict[str, str]) -> None:
    if venv_python(venv).exists():
        return
    log(f"Creating the virtual environment {venv} with {sys.executable}.")
    run_or_exit([sys.executable, "-m", "venv", venv], env, "Creating the virtual environment")


def pyproject_hash() -> str:
    return hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes()).hexdigest()


def read_stamp(venv: Path) -> dict:
    try:
        return json.loads((venv / STAMP_NAME).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def ensure_installed(venv: Path, extra: str, env: dict[str, str], reinstall: bool) -> None:
    """Install the project with ``extra`` unless the stamp file records that it is current."""
    current_hash = pyproject_hash()
    stamp = read_stamp(venv)
    installed_extras = set(stamp.get("extras", [])) if stamp.get("pyproject_sha256") == current_hash else set()

    if extra in installed_extras and not reinstall:
        log(f"emms-ref[{extra}] is installed for this pyproject.toml, so pip is skipped (pass --reinstall to force it).")
        return

    log(
        f"Installing emms-ref[{extra}] in editable mode. The first install resolves "
        "PyTorch and torchvision, several GB, and can take minutes."
    )
    started = time.monotonic()
    run_or_exit(
        [venv_python(venv), "-m", "pip", "install", "-e", f".[{extra}]"],
        env,
        f"pip install -e .[{extra}]",
    )
    log(f"pip finished in {time.monotonic() - started:.0f} s.")

    installed_extras.add(extra)
    stamp = {"pyproject_sha256": current_hash, "extras": sorted(installed_extras)}
    (venv / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n")


def command_environment(venv: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in OFFLINE_DEFAULTS.items():
        env.setdefault(name, value)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = str(venv_bin(venv)) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    return env


def myst_notebooks() -> list[Path]:
    """Return the MyST notebooks under notebooks/, skipping plain Markdown files."""
    notebooks = []
    for path in sorted(NOTEBOOK_DIR.glob("*.md")):
        header = path.read_text(encoding="utf-8")[:2000]
        if header.startswith("---") and "format_name: myst" in header:
            notebooks.append(path)
        else:
            log(f"Skipping {path.relative_to(REPO_ROOT)}: it has no jupytext MyST header.")
    return notebooks


def build_book(venv: Path, env: dict[str, str], extra_args: list[str]) -> int:
    # Kernels pick the inline Matplotlib backend themselves when MPLBACKEND is
    # unset. MPLBACKEND=Agg would override that and drop every figure from
    # the book, so the caller's value is passed on unchanged.
    command = [
        venv_bin(venv) / "jupyter-book",
        "build",
        REPO_ROOT,
        "--warningiserror",
        "--nitpick",
        "--keep-going",
        *extra_args,
    ]
    status = run(command, env)
    index = REPO_ROOT / "_build" / "html" / "index.html"
    if status == 0:
        log(f"Book built: open {index}")
    else:
        log(f"jupyter-book failed with exit status {status}. The messages above name the failing page or cell.")
    return status


def is_test_target(argument: str) -> bool:
    """Return True if a pytest argument names an existing path under tests/ or notebooks/."""
    path = Path(argument.split("::")[0])
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(REPO_ROOT)
        except ValueError:
            return False
    return path.parts[:1] in (("tests",), ("notebooks",)) and (REPO_ROOT / path).exists()


def run_tests(venv: Path, env: dict[str, str], pytest_args: list[str]) -> int:
    env.setdefault("MPLBACKEND", "Agg")

    # Paths under tests/ or notebooks/ among the arguments replace the default
    # targets, so "dev.py test notebooks/derivation.md" runs one notebook.
    # A notebook may be named by its .md source or its generated .ipynb.
    targets = [argument for argument in pytest_args if is_test_target(argument)]
    options = [argument for argument in pytest_args if argument not in targets]
    if targets:
        sources = [Path(target).with_suffix(".md") for target in targets if target.endswith((".md", ".ipynb"))]
        targets = [str(Path(target).with_suffix(".ipynb")) if target.endswith(".md") else target for target in targets]
    else:
        sources = [path.relative_to(REPO_ROOT) for path in myst_notebooks()]
        targets = ["tests", *(str(source.with_suffix(".ipynb")) for source in sources)]

    # The .md files are the notebook sources. The .ipynb files are generated
    # here and ignored by git.
    if sources:
        run_or_exit(
            [venv_python(venv), "-m", "jupytext", "--to", "ipynb", *sources],
            env,
            "Converting the MyST notebooks with jupytext",
        )

    command = [
        venv_python(venv),
        "-m",
        "pytest",
        *targets,
        # Run every cell and fail on any exception, but compare stored outputs
        # only for cells marked NBVAL_CHECK_OUTPUT.
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-cell-timeout",
        str(CELL_TIMEOUT_S),
        *options,
    ]
    return run(command, env)


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse the options of this script and return them with the arguments after the command."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Arguments after the command go unchanged to jupyter-book build (book) "
            "or pytest (test), e.g. 'dev.py test -k ranking -x' or 'dev.py book --all'. "
            "Paths under tests/ or notebooks/ replace the default test targets, "
            "e.g. 'dev.py test notebooks/derivation.md tests/test_evaluation_ranking.py'."
        ),
    )
    parser.add_argument(
        "--reinstall",
        action="store_true",
        help="run pip install even when the stamp file records that the environment is current",
    )
    parser.add_argument(
        "command",
        choices=["book", "test"],
        help="'book' executes the notebooks and builds the HTML book in _build/html. "
        "'test' runs pytest over tests/ and the notebooks (nbval).",
    )

    # argparse cannot pass options such as "-k expr" through to another
    # program, so split the command line at the first non-option argument.
    split = next((index + 1 for index, item in enumerate(argv) if not item.startswith("-")), len(argv))
    return parser.parse_args(argv[:split]), argv[split:]


def main(argv: list[str] | None = None) -> int:
    if sys.version_info < MIN_PYTHON:
        found = ".".join(map(str, sys.version_info[:3]))
        print(f"scripts/dev.py needs Python 3.10 or newer, but runs on {found}.", file=sys.stderr)
        return 2

    arguments, passthrough = parse_arguments(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    venv = venv_path()
    env = command_environment(venv)
    started = time.monotonic()

    ensure_venv(venv, env)
    extra = "book" if arguments.command == "book" else "test"
    ensure_installed(venv, extra, env, arguments.reinstall)

    if arguments.command == "book":
        status = build_book(venv, env, passthrough)
    else:
        status = run_tests(venv, env, passthrough)

    log(f"'{arguments.command}' finished with exit status {status} after {time.monotonic() - started:.0f} s.")
    return status


if __name__ == "__main__":
    sys.exit(main())
