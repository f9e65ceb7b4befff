"""The committed generated code (services/foundry/api) equals a fresh generation from protos/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "gen_protos.py"
COMMITTED = ROOT / "services" / "foundry" / "api"


def _generated_files(api: Path) -> dict[str, bytes]:
    """Every generated file under an api folder (.py, .pyi, py.typed), by relative path."""
    return {
        path.relative_to(api).as_posix(): path.read_bytes()
        for path in sorted(api.rglob("*"))
        if path.is_file()
        and "__pycache__" not in path.parts
        and (path.suffix in {".py", ".pyi"} or path.name == "py.typed")
    }


def test_generated_code_has_no_drift(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"generator failed:\n{result.stderr}{result.stdout}"

    fresh = _generated_files(tmp_path / "foundry" / "api")
    committed = _generated_files(COMMITTED)
    assert fresh, "the generator produced no files"

    missing = sorted(fresh.keys() - committed.keys())
    extra = sorted(committed.keys() - fresh.keys())
    differing = sorted(name for name in fresh.keys() & committed.keys() if fresh[name] != committed[name])
    problems = [
        *(f"missing from services/foundry/api: {name}" for name in missing),
        *(f"not produced by the generator (stale or hand-written): {name}" for name in extra),
        *(f"differs from a fresh generation: {name}" for name in differing),
    ]
    assert not problems, (
        "generated code is out of date with protos/; run `python tools/gen_protos.py` "
        "(make protos) and commit the result:\n  " + "\n  ".join(problems)
    )
