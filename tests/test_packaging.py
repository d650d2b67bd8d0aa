"""Package boundaries: the core imports without any GUI package, and dependencies point app -> draggan ->
spatialgan only."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_imports_without_gui_packages() -> None:
    code = (
        "import sys\n"
        "for name in ('dearpygui', 'dearpygui.dearpygui', 'PyQt5', 'PySide6', 'tkinter'):\n"
        "    sys.modules[name] = None  # any import of these now raises ImportError\n"
        "import pkgutil, importlib, spatialgan, draggan\n"
        "for m in pkgutil.walk_packages(spatialgan.__path__, 'spatialgan.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert not any(k.startswith('app') for k in sys.modules), 'core pulled in the GUI package'\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
    return found


def test_dependency_direction() -> None:
    bad = {(f, m) for f, m in _imports("spatialgan") if m in ("draggan", "app", "dearpygui")}
    bad |= {(f, m) for f, m in _imports("draggan") if m in ("app", "dearpygui")}
    assert not bad, f"imports against app -> draggan -> spatialgan: {sorted(bad)}"


def test_shell_scripts_parse() -> None:
    """The device and training scripts run where no test runs them (a GPU machine): at least they must parse."""
    scripts = sorted([*ROOT.glob("tools/*.sh"), *ROOT.glob("bench/*.sh"), ROOT / ".ci" / "run"])
    assert len(scripts) >= 4
    for path in scripts:
        res = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, f"{path.relative_to(ROOT)}: {res.stderr}"


_LINK = re.compile(r"\]\(([^)\s]+)\)")  # a markdown link's target; link text may span lines


def _anchors(doc: Path) -> set[str]:
    """GitHub's anchors for the headings of a markdown file."""
    heads = [re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", h) for h in re.findall(r"^#+ (.+)$", doc.read_text(), re.M)]
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_markdown_links_resolve() -> None:
    """Every relative link in the README, docs/, the model cards and the results files names a file in the
    repository, and an anchor into a markdown file names one of its headings, so moving a section or a results
    file cannot leave a page pointing at nothing."""
    docs = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("checkpoints/*.md"),
            *ROOT.glob("bench/results/**/*.md")]
    broken = []
    for doc in docs:
        for target in _LINK.findall(doc.read_text()):
            path, _, anchor = target.partition("#")
            if "://" in target or target.startswith("mailto:"):
                continue
            linked = doc.parent / path if path else doc
            if not linked.exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{doc.relative_to(ROOT)} -> {target} (no such heading)")
    assert len(docs) > 10 and not broken, f"links to missing files: {broken}"
