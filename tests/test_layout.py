"""The import layering that keeps the repo readable: scripts on top, then the library, then the parts.
A file may import only from layers below it (or its own, for the library), and no script imports another."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"train", "compress", "evaluate"}
LIBRARY = {"model", "vqa", "judges", "discriminator", "data", "metrics", "baselines"}
PARTS = {"encoder", "decoder", "quantize", "bitstream", "scenes", "files"}


def project_imports(name):
    tree = ast.parse((ROOT / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & (SCRIPTS | LIBRARY | PARTS)


def test_every_python_file_has_a_layer():
    assert {p.stem for p in ROOT.glob("*.py")} == SCRIPTS | LIBRARY | PARTS


def test_imports_go_down_only():
    for name in SCRIPTS:
        assert not project_imports(name) & SCRIPTS, name
    for name in LIBRARY:
        assert not project_imports(name) & SCRIPTS, name
    for name in PARTS:
        assert project_imports(name) <= PARTS, name
    assert project_imports("compress") <= {"model", "bitstream", "files"}      # no datasets in the CLI
