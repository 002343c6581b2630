"""`import app` (every cold start of the API, the authorizer and the workers) loads only what
every handler needs: boto3, PyJWT, urllib3 and XlsxWriter come with their first use."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAZY = ("boto3", "botocore.client", "jwt", "urllib3", "xlsxwriter")


def test_import_app_leaves_the_heavy_clients_for_their_first_use():
    code = ("import json, sys; import app; "
            f"print(json.dumps([m for m in {list(LAZY)!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
