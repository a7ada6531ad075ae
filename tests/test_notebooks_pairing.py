"""Checks that the MyST notebooks, their generated .ipynb files and the table of contents agree."""

from pathlib import Path

import jupytext
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_SOURCES = sorted((REPO_ROOT / "notebooks").glob("*.md"))


def toc_files() -> list[str]:
    """Return every file named in _toc.yml, without extension, relative to the repository root."""
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
            files.extend(section["file"] for section in chapter.get("sections", []))
    return files


def test_notebook_sources_exist():
    assert NOTEBOOK_SOURCES, "notebooks/ contains no .md notebook"


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda path: path.name)
def test_notebook_has_myst_header(source):
    notebook = jupytext.read(source)
    text_representation = notebook.metadata.get("jupytext", {}).get("text_representation", {})
    assert text_representation.get("format_name") == "myst"
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda path: path.name)
def test_notebook_has_code_cells(source):
    notebook = jupytext.read(source)
    assert any(cell.cell_type == "code" for cell in notebook.cells)


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda path: path.name)
def test_notebook_is_in_toc(source):
    # _config.yml sets only_build_toc_files, so a notebook missing from the
    # table of contents would silently drop out of the book.
    entry = source.relative_to(REPO_ROOT).with_suffix("").as_posix()
    assert entry in toc_files()


@pytest.mark.parametrize("entry", toc_files())
def test_toc_entry_exists(entry):
    candidates = [REPO_ROOT / f"{entry}{suffix}" for suffix in (".md", ".ipynb")]
    assert any(path.is_file() for path in candidates), f"_toc.yml names {entry}, but no {entry}.md exists"


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda path: path.name)
def test_generated_notebook_matches_source(source):
    # scripts/dev.py test regenerates the .ipynb before pytest runs it. A
    # stale one means pytest was started by hand after the .md changed.
    generated = source.with_suffix(".ipynb")
    if not generated.exists():
        pytest.skip(f"{generated.name} has not been generated; run jupytext --to ipynb {source.name}")

    source_cells = [(cell.cell_type, cell.source) for cell in jupytext.read(source).cells]
    generated_cells = [(cell.cell_type, cell.source) for cell in jupytext.read(generated).cells]
    assert generated_cells == source_cells, f"{generated.name} is out of date; regenerate it from {source.name}"
