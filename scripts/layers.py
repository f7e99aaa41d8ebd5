#!/usr/bin/env python3
"""The layering rule of docs/architecture.md, checked from the code: draws the
import graph of src/ (every `crate::` and `super::` path, per file and per
folder) and fails on an arrow that runs up or sideways between layers, or on
an import cycle. `-v` prints the whole graph.

    scripts/layers.py [SRC_DIR] [-v]
"""
import os
import re
import sys

# Higher imports lower; auth may read store (a token's row); leaves under all.
RANK = {"main": 9, "server": 9, "crate": 9, "cli": 8, "tls": 8, "api": 7, "service": 6,
        "auth": 5, "store": 4, "config": 0, "error": 0, "capabilities": 0}
ALLOWED_SIDEWAYS = {("auth", "store")}
# Down, but skipping the layer between: handlers reach the store through service.
SKIPS_FORBIDDEN = {("api", "store")}

args = [a for a in sys.argv[1:] if not a.startswith("-")]
root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

mods = {}
for dirpath, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(dirpath, f)
        parts = os.path.relpath(path, root)[:-3].split("/")
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts in (["lib"], ["main"]):
            parts = ["crate"] if parts == ["lib"] else ["main"]
        mods["::".join(parts)] = path


def resolve(path):
    segs = path.split("::")
    for i in range(len(segs), 0, -1):
        cand = "::".join(segs[:i])
        if cand in mods:
            return cand
    return None


edges = {}
for m, path in mods.items():
    src = open(path).read().split("#[cfg(test)]")[0]
    found = set()
    for u in re.finditer(r"crate::((?:[A-Za-z_]+::)*[A-Za-z_]+)(::\{([^}]*)\})?", src):
        base = u.group(1)
        if u.group(3):
            for item in u.group(3).split(","):
                item = item.strip().split(" as ")[0]
                if item:
                    r = resolve(base if item == "self" else base + "::" + item)
                    if r:
                        found.add(r)
        r = resolve(base)
        if r:
            found.add(r)
    parent = m.rsplit("::", 1)[0] if "::" in m else ""
    for u in re.finditer(r"\bsuper::([A-Za-z_:]+)", src):
        r = resolve((parent + "::" if parent else "") + u.group(1).rstrip(":"))
        if r:
            found.add(r)
    found.discard(m)
    edges[m] = found


def layer(m):
    return m.split("::")[0]


up = sorted(
    (a, b)
    for a, bs in edges.items()
    for b in bs
    if layer(a) != layer(b)
    and (
        (RANK.get(layer(b), 0) >= RANK.get(layer(a), 0)
         and (layer(a), layer(b)) not in ALLOWED_SIDEWAYS)
        or (layer(a), layer(b)) in SKIPS_FORBIDDEN
    )
)


def cycles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def unit(m):
    """A folder module and its files are one unit."""
    p = m.split("::")
    folder = len(p) > 2 or (len(p) == 2 and os.path.isdir(os.path.join(root, *p)))
    return "::".join(p[:2]) if folder else m


folders = {}
for a, bs in edges.items():
    for b in bs:
        if unit(a) != unit(b):
            folders.setdefault(unit(a), set()).add(unit(b))

file_cycles, folder_cycles = cycles(edges), cycles(folders)
print(f"arrows up or sideways: {len(up)}")
for a, b in up:
    print(f"   {a} -> {b}")
print(f"import cycles: {len(file_cycles)} between files, {len(folder_cycles)} between folders")
for c in file_cycles + folder_cycles:
    print("   " + " <-> ".join(c))
if "-v" in sys.argv:
    for a in sorted(edges):
        print(a, "->", ", ".join(sorted(edges[a])))
sys.exit(1 if up or file_cycles or folder_cycles else 0)
