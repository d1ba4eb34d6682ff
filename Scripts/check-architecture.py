#!/usr/bin/env python3
"""Checks that docs/ARCHITECTURE.md describes the module graph Package.swift declares.

Reads the package as `swift package dump-package` prints it (or that JSON from a file
given as the one argument) and, from the document, the modules table, the test targets
table and the graph by layer. Exits 1 naming each difference:

- a target one side has and the other does not;
- a dependency edge inside the package one side has and the other does not (outside
  packages are left out of the tables, and so out of the check);
- a target the tables call an executable or a system library that is not one;
- a target missing from the layers, or depending on a target of its own layer or below.

Cheap (the manifest is evaluated, nothing is built): Scripts/test.sh runs it first.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "ARCHITECTURE.md"
NAME = re.compile(r"`([A-Za-z][\w-]*)`")


def declared_targets(dump):
    """name -> (type, set of in-package dependencies), from dump-package's JSON."""
    package = json.loads(dump)
    names = {target["name"] for target in package["targets"]}
    targets = {}
    for target in package["targets"]:
        dependencies = set()
        for dependency in target["dependencies"]:
            # {"byName": [name, condition]}, {"target": [name, condition]} or
            # {"product": [name, package, ...]}: a product is another package's.
            (kind, value), = dependency.items()
            if kind in ("byName", "target") and value[0] in names:
                dependencies.add(value[0])
        targets[target["name"]] = (target["type"], dependencies)
    return targets


def documented_tables(text):
    """Rows of every table whose first column is `target` or `test target` and whose last
    says `depends on`: name -> (kind column or None, set of dependencies)."""
    rows = {}
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if set(line) <= set("|-: "):
            continue  # the line under the header
        if header[0] not in ("target", "test target") or not header[-1].startswith("depends on"):
            continue
        name = NAME.fullmatch(cells[0])
        if not name:
            continue
        kind = cells[header.index("kind")] if "kind" in header else None
        if name.group(1) in rows:
            print(f"{DOCUMENT.name}: {name.group(1)} has two rows")
        rows[name.group(1)] = (kind, set(NAME.findall(cells[-1])))
    return rows


def documented_layers(text):
    """name -> layer number, from the code block after 'The same graph by layer'."""
    start = text.find("The same graph by layer")
    if start < 0:
        return {}
    block = text[start:].split("```")[1]
    layers = {}
    for line in block.splitlines():
        match = re.match(r"\s*(\d+)\s+(.*)", line)
        if match:
            # "Systemd (CSystemd)": what is in parentheses is a reminder, not a target.
            for name in re.sub(r"\([^)]*\)", " ", match.group(2)).split():
                layers[name] = int(match.group(1))
    return layers


def differences(targets, rows, layers):
    found = []
    for name in sorted(targets.keys() - rows.keys()):
        found.append(f"target {name} is in Package.swift, not in the tables")
    for name in sorted(rows.keys() - targets.keys()):
        found.append(f"target {name} is in the tables, not in Package.swift")
    for name in sorted(targets.keys() & rows.keys()):
        kind, declared = targets[name]
        documented_kind, documented = rows[name]
        for dependency in sorted(declared - documented):
            found.append(f"edge {name} -> {dependency} is in Package.swift, not in the tables")
        for dependency in sorted(documented - declared):
            found.append(f"edge {name} -> {dependency} is in the tables, not in Package.swift")
        if documented_kind is not None:
            for word, package_kind in (("executable", "executable"), ("system library", "system")):
                if (documented_kind == word) != (kind == package_kind):
                    found.append(f"target {name}: Package.swift says {kind}, the table says {documented_kind}")
    for name, (kind, declared) in sorted(targets.items()):
        if kind == "test":
            continue
        if name not in layers:
            found.append(f"target {name} is in no layer of the graph by layer")
            continue
        for dependency in sorted(declared):
            if dependency in layers and layers[dependency] >= layers[name]:
                found.append(
                    f"layer {layers[name]}: {name} depends on {dependency}, which is in layer {layers[dependency]}")
    for name in sorted(layers.keys() - targets.keys()):
        found.append(f"layer {layers[name]} names {name}, which Package.swift does not declare")
    return found


def main():
    if len(sys.argv) > 1:
        dump = Path(sys.argv[1]).read_text()
    else:
        dump = subprocess.run(
            ["swift", "package", "dump-package"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    text = DOCUMENT.read_text()
    found = differences(declared_targets(dump), documented_tables(text), documented_layers(text))
    for line in found:
        print(f"docs/ARCHITECTURE.md and Package.swift differ: {line}", file=sys.stderr)
    if found:
        sys.exit(1)
    print("check-architecture: docs/ARCHITECTURE.md matches Package.swift")


if __name__ == "__main__":
    main()
