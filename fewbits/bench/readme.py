"""The README's tables, generated: the results from results/benchmark.md, the models from the zoo.

    python -m fewbits.bench.readme       # rewrites the blocks between the README's markers

Between <!-- results --> and <!-- /results --> goes one table of selected rows of benchmark.md;
between <!-- photos --> and <!-- /photos --> the photo codecs at their own size against the
classical codecs at the same bpp; between <!-- zoo --> and <!-- /zoo --> the zoo's codecs.
tests/test_readme.py checks that the README holds exactly what this writes, so no figure on the
front page is typed by hand.
"""
import re
import sys
from pathlib import Path

from .. import files, zoo
from .report import table

ROWS = {"easyvqa": ["ours, easyvqa-64", "ours, easyvqa-128", "ours, easyvqa-256",
                    "thumbnail 4×4, 5 bit", "WebP q0", "JPEG q1"],
        "scenes": ["ours, scenes-map-120", "ours, scenes-256", "ours, scenes-128",
                   "thumbnail 8×8, 4 bit", "WebP q0", "WebP q10", "scene graph (reference)"],
        "clevr": ["ours, clevr-cast", "ours, clevr-fine-cast", "thumbnail 8×8, 4 bit", "WebP q0",
                  "WebP q10", "WebP q50", "scene graph (reference)"],
        "photos": ["ours, photos-256", "ours, photos-256, search 400", "thumbnail 8×8, 4 bit",
                   "ours, photos-1472", "ours, photos-1472, search 400", "WebP q0", "AVIF q0"]}


def sections(text):
    """benchmark.md -> {dataset: [table, ...]}, each table a list of {column: cell} rows."""
    found, name = {}, None
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip().splitlines()
        if lines and lines[0].startswith("### "):
            name, lines = lines[0][4:].strip(), lines[1:]
        if name and len(lines) > 2 and lines[0].startswith("|") and lines[1].startswith("|---"):
            header = [c.strip() for c in lines[0].strip("|").split("|")]
            cells = lambda line: [c.strip() for c in line.strip("|").split("|")]
            rows = [dict(zip(header, cells(line))) for line in lines[2:]]
            found.setdefault(name, []).append(rows)
    return found


def weakest(families_row):
    """{"method": ..., family: "97.5%", ...} -> "shape 89.6%": the family kept least."""
    families = [k for k in families_row if k != "method"]
    family = min(families, key=lambda k: float(families_row[k].rstrip("%")))
    return f"{family} {families_row[family]}"


def results_table(text):
    """The front page's one table: selected rows of every dataset in benchmark.md."""
    header = ["data", "method", "bits / file", "**held-out retention**", "weakest family",
              "PSNR dB", "FD"]
    rows = []
    for name, tables in sections(text).items():
        if name not in ROWS:                       # photos at their own size: photo_table
            continue
        main = {row["method"]: row for row in tables[0]}
        by_family = {row["method"]: row for row in tables[1]} if len(tables) > 1 else {}
        for i, label in enumerate(label for label in ROWS[name] if label in main):
            row, ours = main[label], label.startswith("ours")
            kept = row.get("**held out**", "— (no questions)")
            family = weakest(by_family[label]) if label in by_family else "—"
            cells = [name if i == 0 else "", f"**{label}**" if ours else label,
                     f"{int(row['bits / image']):,}", kept, family, row["PSNR dB"], row["FD"]]
            rows.append(cells)
    return table(header, rows)


def photo_table(text):
    """benchmark.md's comparison of our photo codecs with the classical codecs at the same bpp."""
    tables = sections(text).get("photos at their own size", [])
    if len(tables) < 2:
        return ["(no photo codec at its own size in results/benchmark.md: "
                "`fewbits evaluate --data photos-full`)"]
    header = list(tables[1][0])
    return table(header, [[row[k] for k in header] for row in tables[1]])


def zoo_table():
    header = ["name", "trained on", "`--bits`", "what it is", "how it was chosen"]
    codecs = [(name, m) for name, m in zoo.MODELS.items() if m["kind"] == "codec"]
    return table(header, [[f"`{name}`", m["data"], str(m["bits"]), m["description"],
                           m.get("chosen", "—")] for name, m in codecs])


def update(readme, benchmark):
    """The README's text with its generated blocks written afresh from benchmark.md and the zoo."""
    blocks = (("results", results_table(benchmark)), ("photos", photo_table(benchmark)),
              ("zoo", zoo_table()))
    for marker, lines in blocks:
        pattern = re.compile(rf"(<!-- {marker} -->\n).*?(<!-- /{marker} -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"README.md has no <!-- {marker} --> block")
        readme = pattern.sub(lambda m: m.group(1) + "\n".join(lines) + "\n" + m.group(2), readme)
    return readme


def main(root=Path(".")):
    readme, benchmark = root / "README.md", root / "results" / "benchmark.md"
    files.write_atomic(readme, update(readme.read_text(), benchmark.read_text()).encode())
    print(f"wrote the generated tables of {readme} from {benchmark} and the zoo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
