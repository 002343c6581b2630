"""Package gate: what `chalice deploy` would create must be valid and keep the worker's limits.

For each stage: `chalice package --stage S` into a temp dir, cfn-lint on its sam.json, and
a check of every SQS event source: BatchSize 1 (one message = one unit of work, so a
failure never redelivers a sibling) and ScalingConfig.MaximumConcurrency between 2 (the
AWS minimum) and the function's ReservedConcurrentExecutions (otherwise the poller
throttles itself and messages bounce back to the queue, counting toward the DLQ). The
infra template is linted too. Exit status 1 on any problem.

    python -m infra.package_check [--stage dev --stage prod]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INFRA_TEMPLATE = ROOT / "infra" / "template.yaml"
DEFAULT_STAGES = ("dev", "prod")
BIN = Path(sys.executable).parent


def worker_problems(template: dict[str, Any]) -> list[str]:
    """Problems with the SQS event sources of a packaged (SAM) template; [] when fine."""
    problems, found = [], 0
    for name, res in template.get("Resources", {}).items():
        props = res.get("Properties", {})
        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            found += 1
            where = f"{name}.{event_name}"
            ev = event.get("Properties", {})
            if ev.get("BatchSize") != 1:
                problems.append(f"{where}: BatchSize is {ev.get('BatchSize')}, must be 1")
            max_conc = (ev.get("ScalingConfig") or {}).get("MaximumConcurrency")
            reserved = props.get("ReservedConcurrentExecutions")
            if max_conc is None:
                problems.append(f"{where}: no ScalingConfig.MaximumConcurrency")
            elif max_conc < 2:
                problems.append(f"{where}: MaximumConcurrency {max_conc} < 2 (AWS minimum)")
            if reserved is None:
                problems.append(f"{name}: no ReservedConcurrentExecutions")
            elif max_conc is not None and max_conc > reserved:
                problems.append(f"{where}: MaximumConcurrency {max_conc} > "
                                f"ReservedConcurrentExecutions {reserved}")
    if not found:
        problems.append("no SQS event source found (the worker is missing)")
    return problems


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


def cfn_lint(path: Path) -> list[str]:
    out = _run([str(BIN / "cfn-lint"), str(path)])
    return [] if out.returncode == 0 else [f"cfn-lint {path.name}:\n{out.stdout}{out.stderr}"]


def check_stage(stage: str, workdir: Path) -> list[str]:
    out_dir = workdir / stage
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION",
                                                               "us-east-1")}
    done = _run([str(BIN / "chalice"), "package", "--stage", stage, str(out_dir)], env=env)
    if done.returncode != 0:
        return [f"chalice package --stage {stage} failed:\n{done.stdout}{done.stderr}"]
    sam = out_dir / "sam.json"
    problems = cfn_lint(sam)
    problems += [f"[{stage}] {p}" for p in worker_problems(json.loads(sam.read_text()))]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", action="append", dest="stages")
    args = parser.parse_args(argv)
    problems = cfn_lint(INFRA_TEMPLATE)
    with tempfile.TemporaryDirectory(prefix="chalice-package-") as tmp:
        for stage in args.stages or DEFAULT_STAGES:
            stage_problems = check_stage(stage, Path(tmp))
            print(f"package-check {stage}: {'ok' if not stage_problems else 'FAILED'}")
            problems += stage_problems
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
