"""The front page: its tables are generated, not typed; it fits in 150 lines; CI runs its commands."""
import re
from pathlib import Path

from fewbits.bench import readme

ROOT = Path(__file__).resolve().parent.parent


def test_the_readmes_tables_are_what_the_script_writes_from_the_results_and_the_zoo():
    text = (ROOT / "README.md").read_text()
    assert readme.update(text, (ROOT / "results" / "benchmark.md").read_text()) == text
    assert "| **ours, easyvqa-256** |" in text and "| `scenes-map-120` |" in text


def test_the_readme_is_a_front_page_and_ci_runs_its_commands():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    install = re.search(r"## Install\n\n```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in install.splitlines()]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert commands == ci == ["apt-get install -y chromium chromium-driver || echo \"no browser: the demo page's test will skip\"",
                              'pip install -e ".[test]"', "python -m pytest -q"]
