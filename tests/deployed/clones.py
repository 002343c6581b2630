"""Fresh clones of this checkout for deploys: what a CI job starts from (committed files
only, none of this tree's .chalice/deployed, .venv or .local). The working tree's
uncommitted changes are committed onto the clone, so a suite run before a commit still
tests what is on disk."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Reused from this checkout instead of installed again per clone: the venvs (large, pinned
# by the same requirement files, so the same content).
SHARED = (".venv",)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def fresh_clone(target: Path) -> Path:
    clone = target / "async-task"
    git("clone", "-q", "--no-hardlinks", str(ROOT), str(clone), cwd=target)
    changed = git("status", "--porcelain", "--untracked-files=all", cwd=ROOT)
    for line in changed.splitlines():
        path = line[3:].split(" -> ")[-1]
        source, dest = ROOT / path, clone / path
        if source.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
        elif not source.exists() and dest.exists():
            dest.unlink()
    if changed:
        git("add", "-A", cwd=clone)
        git("-c", "user.name=test", "-c", "user.email=test@localhost", "commit", "-qm",
            "uncommitted changes of the tested tree", cwd=clone)
    for name in SHARED:
        (clone / name).symlink_to(ROOT / name)
    return clone
