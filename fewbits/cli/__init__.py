"""The command line: fewbits COMMAND [ARGS], or python -m fewbits COMMAND [ARGS].

    fewbits compress in.jpg out.bin         fewbits decompress out.bin out.png
    fewbits train --bits 256                fewbits evaluate
    fewbits judges --data easyvqa --family film     fewbits vqa --data scenes --seed 0
    fewbits zoo [NAME]                      the shipped models, from the zoo's manifest
    fewbits demo                            a web page to try them on, at http://127.0.0.1:8000/

Each command's module parses its own arguments; `fewbits COMMAND --help` lists them.
"""
import sys
from functools import partial

from .. import zoo


def commands():
    from . import compress, demo, evaluate, train, vqa     # on demand: `fewbits compress` needn't import the benchmark
    return {"compress": compress.main, "decompress": partial(compress.main, decompress=True), "train": train.main,
            "evaluate": evaluate.main, "judges": vqa.judges_main, "vqa": vqa.vqa_main, "zoo": list_zoo,
            "demo": demo.main}


def list_zoo(argv=None, prog="fewbits zoo"):
    """Every shipped model, one line each; with names, each one's whole entry, commands and all."""
    if not argv:
        for name, m in zoo.MODELS.items():
            print(f"{name:26s}{m['kind']:7s}{m['data']:9s}{m['bits'] or '':>6}  {m['description']}")
        return 0
    for name in argv:
        if name not in zoo.MODELS:
            print(f"error: {name}: not in the zoo; `fewbits zoo` lists it", file=sys.stderr)
            return 2
        print("\n".join(f"{k}: {v}" for k, v in zoo.MODELS[name].items() if k != "commands" and v not in ("", None)))
        print("commands:\n" + "\n".join(f"  {c}" for c in zoo.MODELS[name]["commands"]))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    table = commands()
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    if argv[0] not in table:
        print(f"error: no command {argv[0]!r}; one of {', '.join(table)}", file=sys.stderr)
        return 2
    return table[argv[0]](argv[1:], prog=f"fewbits {argv[0]}")
