"""The /docs page's viewer: Swagger UI's dist files from the npm registry, pinned.

`make docs-viewer` (python -m infra.docs_viewer) fetches swagger-ui-dist@VERSION with
`npm pack`, checks the tarball against the pinned sha512 integrity (the registry's
`dist.integrity`), and copies the few files the page serves into chalicelib/docs_viewer/
with their sha256 in MANIFEST.json. The files are committed, so neither the Lambda package
nor a clean clone's `make test` needs npm; tests/unit/test_docs_page.py checks them against
the manifest and the package's size budget.
"""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE, VERSION = "swagger-ui-dist", "5.35.0"
INTEGRITY = ("sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsX"
             "dGarTNNHC3sU8yVUQ==")
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE")
DEST = Path(__file__).resolve().parents[1] / "chalicelib" / "docs_viewer"
MANIFEST = DEST / "MANIFEST.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tarball = Path(tmp) / f"{PACKAGE}-{VERSION}.tgz"
        got = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if got != INTEGRITY:
            raise SystemExit(f"{tarball.name}: integrity {got} is not the pinned {INTEGRITY}")
        with tarfile.open(tarball) as tar:
            for name in FILES:
                member = tar.extractfile(f"package/{name}")
                assert member is not None, name
                (DEST / name).write_bytes(member.read())
    MANIFEST.write_text(json.dumps({"package": PACKAGE, "version": VERSION,
                                    "integrity": INTEGRITY,
                                    "files": {n: sha256(DEST / n) for n in FILES}},
                                   indent=2) + "\n")
    print(f"{PACKAGE}@{VERSION}: {', '.join(FILES)} -> {DEST}")


if __name__ == "__main__":
    fetch()
    sys.exit(0)
