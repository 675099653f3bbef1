"""The package's shape, which keeps it readable: imports go down the layers only, every function is
short (the one training loop aside), and no block of lines is written twice."""
import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fewbits"
# each part of the package, by layer: a module imports from lower layers, or from its own part
LAYERS = {"coding": 0, "files": 1, "zoo": 2, "nn": 2, "data": 2, "metrics": 2, "codec": 3, "vqa": 3, "api": 4,
          "validation": 5, "train": 6, "bench": 7, "demo": 7, "cli": 8,
          "__init__": 9, "__main__": 9}
LONGEST = 60                                          # lines per function
LOOPS = {("train.py", "train")}                       # the one training loop, read top to bottom


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def part(path):
    """fewbits/codec/base.py -> codec; fewbits/api.py -> api."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_parts(path):
    """The parts of the package that `path` imports, by relative (from ..nn import x) or absolute names."""
    package = ["fewbits", *path.relative_to(PACKAGE).parent.parts]
    targets = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            targets += [base + node.module.split(".")] if node.module else [base + [a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            targets.append(node.module.split("."))
        elif isinstance(node, ast.Import):
            targets += [a.name.split(".") for a in node.names]
    return {t[1] for t in targets if t[0] == "fewbits" and len(t) > 1}


def test_every_module_has_a_layer():
    assert {part(p) for p in modules()} <= set(LAYERS), {part(p) for p in modules()} - set(LAYERS)


def test_imports_go_down_only():
    for path in modules():
        mine = part(path)
        for other in imported_parts(path) - {mine}:
            assert LAYERS[other] < LAYERS[mine], f"{path.relative_to(PACKAGE)} imports {other}"
    # the command line reads images and codecs, never the datasets, to compress a file
    assert imported_parts(PACKAGE / "cli" / "compress.py") <= {"zoo", "api", "coding", "files"}


def test_no_function_is_longer_than_60_lines_but_the_training_loop():
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (path.name, node.name) not in LOOPS:
                length = node.end_lineno - node.lineno + 1
                assert length <= LONGEST, f"{path.relative_to(PACKAGE)}: {node.name} is {length} lines"


def test_no_block_of_six_lines_is_written_twice():
    """The same six lines (stripped, blank lines and comments aside) in two places of the package."""
    seen = defaultdict(list)
    for path in modules():
        lines = [(n, line.strip()) for n, line in enumerate(path.read_text().splitlines(), 1)]
        code = [(n, text) for n, text in lines if text and not text.startswith(("#", '"""', "import", "from"))]
        for i in range(len(code) - 5):
            block = tuple(text for _, text in code[i:i + 6])
            if sum(len(text) > 12 for text in block) >= 4:            # not six lines of brackets
                seen[block].append(f"{path.relative_to(PACKAGE)}:{code[i][0]}")
    twice = {places[0]: places[1:] for places in seen.values() if len(places) > 1}
    assert not twice, twice


def test_the_benchmarks_lines_fit_in_100_columns():
    for path in [*(PACKAGE / "bench").glob("*.py"), PACKAGE / "cli" / "evaluate.py"]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert len(line) <= 100, f"{path.relative_to(PACKAGE)}:{n} is {len(line)} columns"
