"""Making altered copies of Zoo packages for the tests (what other tools' packages look like)."""

from __future__ import annotations

import io
import zipfile

import numpy as np


def rewrite_package(src, dst, *, edit=None, files=None, drop=()):
    """Copy a package, replacing ``files`` (name -> bytes), dropping ``drop`` and editing its rdf.yaml.

    ``edit(rdf: dict)`` changes the description in place; the sha256 of every replaced file is
    updated where the description names it.
    """
    import hashlib

    import yaml

    files = dict(files or {})
    with zipfile.ZipFile(src) as zin:
        rdf = yaml.safe_load(zin.read("rdf.yaml"))
        content = {n: zin.read(n) for n in zin.namelist() if n != "rdf.yaml" and n not in drop}
    content.update(files)

    def fix(node):
        if isinstance(node, dict):
            if node.get("source") in files and "sha256" in node:
                node["sha256"] = hashlib.sha256(files[node["source"]]).hexdigest()
            for v in node.values():
                fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)

    if edit:
        edit(rdf)
    fix(rdf)
    with zipfile.ZipFile(dst, "w") as zout:
        zout.writestr("rdf.yaml", yaml.safe_dump(rdf, sort_keys=False))
        for name, data in content.items():
            zout.writestr(name, data)
    return dst


def npy_bytes(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()
