"""The package's import graph: its folders are layers, each with a rank, and a module imports only
from its own folder or from a lower rank, never in a cycle; the rules that say which layer may know
which; matplotlib is imported in one room only, and inside its functions."""

from __future__ import annotations

import ast

import pytest
from helpers import ROOT

PACKAGE = ROOT / "seq2seq"

# the folders (and the root's own modules), lowest first
RANKS = {
    "__init__": 0,  # the version and one environment default; imports nothing of the package
    "errors": 0,
    "special_ids": 0,  # PAD/UNK/BOS/EOS: what the models need of the tokenizer
    "config": 1,
    "runtime": 1,
    "report": 1,
    "layers": 2,
    "data": 3,
    "models": 4,
    "decoding": 5,
    "training": 6,
    "deploy": 6,
    "inference": 7,
    "classify": 7,
    "serving": 8,
    "cli": 9,
    "__main__": 10,
}
# (importer, imported) pairs that the ranks alone would allow, and the layering forbids
FORBIDDEN = {
    ("layers", "config"),  # layers take explicit arguments
    ("layers", "data"),
    ("inference", "training"),  # using a model file never needs the trainer
    ("inference", "classify"),
}
MODULES = sorted(".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in PACKAGE.rglob("*.py"))
NAMES = set(MODULES)


def layer(module: str) -> str:
    """The folder of a module, or the root module's own name."""
    return module.split(".")[0] if "." in module else module


def package_imports(tree: ast.AST, module: str = "__main__") -> set[str]:
    """The package's own modules (dotted, e.g. "data.tokenizer", or "__init__" for a name from the
    package or a folder's __init__) that `module` imports, anywhere in its body."""
    found: set[str] = set()
    here = module.split(".")[:-1]  # the module's folder, [] at the root
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if not node.module or not (node.module == "seq2seq" or node.module.startswith("seq2seq.")):
                    continue
                base = node.module.split(".")[1:]
            else:
                if node.level - 1 > len(here):
                    raise AssertionError(f"relative import beyond the package at line {node.lineno}")
                base = here[: len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            for alias in node.names:  # from X import name: a module if X.name is one, else X itself
                found.add(_resolve(base + [alias.name]) or _resolve(base) or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "seq2seq" or alias.name.startswith("seq2seq."):
                    found.add(_resolve(alias.name.split(".")[1:]) or "__init__")
    return found


def _resolve(parts: list[str]) -> str | None:
    name = ".".join(parts)
    if name in NAMES:
        return name
    if f"{name}.__init__" in NAMES:
        return f"{name}.__init__"
    return None


def top_level_imports(tree: ast.Module) -> set[str]:
    """Root names of the modules imported at import time (outside any function)."""
    roots: set[str] = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.Import):
                roots.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
            visit(ast.iter_child_nodes(node))

    visit(tree.body)
    return roots


def all_imports(tree: ast.Module) -> set[str]:
    """Root names of every module imported anywhere in the body."""
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def parse(module: str) -> ast.Module:
    return ast.parse((PACKAGE / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))


def test_every_folder_has_a_rank():
    unranked = sorted({layer(m) for m in MODULES} - set(RANKS))
    assert not unranked, f"add these folders to RANKS in tests/unit/test_imports.py: {unranked}"
    assert set(RANKS) <= {layer(m) for m in MODULES}, "RANKS names folders that do not exist"


@pytest.mark.parametrize("module", MODULES)
def test_imports_only_go_down(module):
    imported = package_imports(parse(module), module)
    if module == "__init__":
        assert not imported, "seq2seq/__init__.py must import nothing from the package"
        return
    mine = layer(module)
    upward = sorted(m for m in imported if layer(m) != mine and RANKS[layer(m)] >= RANKS[mine])
    assert not upward, (
        f"seq2seq/{module} ({mine}, rank {RANKS[mine]}) imports {upward} of equal or higher rank"
    )
    forbidden = sorted(m for m in imported if (mine, layer(m)) in FORBIDDEN)
    assert not forbidden, f"seq2seq/{module}: {mine} must not import {forbidden}"


def test_no_cycles_inside_a_folder():
    graph = {m: {i for i in package_imports(parse(m), m) if layer(i) == layer(m) != i} for m in MODULES}
    done, path = set(), []

    def visit(m):
        if m in path:
            pytest.fail(f"import cycle: {' -> '.join(path[path.index(m) :] + [m])}")
        if m in done:
            return
        path.append(m)
        for n in graph.get(m, ()):
            visit(n)
        path.pop()
        done.add(m)

    for m in MODULES:
        visit(m)


@pytest.mark.parametrize("module", MODULES)
def test_matplotlib_is_imported_only_inside_functions_of_one_room(module):
    assert "matplotlib" not in top_level_imports(parse(module))
    if module != "report.plots":
        assert "matplotlib" not in all_imports(parse(module)), "all drawing lives in report/plots.py"


def test_the_checker_sees_every_import_form():
    code = """
import seq2seq.models.build
from seq2seq.data import batches as data
from seq2seq.decoding.search import beam_search
from . import __version__
from ..config import Config
from .tokenizer import PAD_ID
import matplotlib.pyplot as plt
def f():
    import matplotlib
    from ..training.train import train
"""
    tree = ast.parse(code)
    assert package_imports(tree, "data.corpus") == {
        "models.build",
        "data.batches",
        "decoding.search",
        "data.__init__",
        "config.__init__",
        "data.tokenizer",
        "training.train",
    }
    assert "matplotlib" in top_level_imports(tree)
    assert "matplotlib" not in top_level_imports(ast.parse("def f():\n    import matplotlib\n"))


def test_the_model_side_knows_the_special_ids_not_the_tokenizer():
    """The loss, batches, search and models need the PAD/BOS/EOS ids only: they take them from the
    leaf special_ids, never from the tokenizer (and SentencePiece and the config behind it)."""
    for name in ("models.loss", "data.batches", "decoding.hypotheses", "decoding.search", "models.build"):
        assert "data.tokenizer" not in package_imports(parse(name), name), name
