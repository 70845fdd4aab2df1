"""`make deploy`'s flow: export → train → register → gate → canary, stopping at a lost gate.

The commands themselves are tested against moto elsewhere (tests/model/test_model_registry.py); here
a stand-in `python` (written below) answers each step, so the test sees only the Makefile's
shell: which steps run, in what order, and its exit status.
"""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.cloud

ROOT = Path(__file__).resolve().parents[2]
# Stands for the virtualenv's python: prints what each command would print, records the step,
# and exits from the gate with GATE_STATUS (0 approved, 3 rejected, 1 failed).
STAND_IN = """#!/bin/sh
echo "$*" >> "$STEPS"
case "$*" in
  *model.train_job*) echo "s3://shop-ml/models/job/output/model.tar.gz";;
  *model.register*) echo "arn:aws:sagemaker:eu-west-1:123456789012:model-package/shop/1";;
  *model.promote*) exit "$GATE_STATUS";;
esac
"""


def run_make(tmp_path: Path, gate_status: int) -> tuple[int, str, list[str]]:
    if shutil.which("make") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("make is not installed")
        pytest.skip("make is not installed")
    python = tmp_path / "python"
    python.write_text(STAND_IN)
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    steps = tmp_path / "steps"
    steps.touch()
    env = {**os.environ, "STEPS": str(steps), "GATE_STATUS": str(gate_status)}
    done = subprocess.run(
        [
            "make", "-s", "-o", ".venv/.installed-stamp", "deploy", f"BIN={tmp_path}",
            "BUCKET=shop-ml", "ROLE=arn:aws:iam::123456789012:role/r", "IMAGE=img:1",
            "ENDPOINT=shop",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # "manage.py recommendations_export ...", "-m model.train_job ...": the second word.
    commands = [line.split()[1] for line in steps.read_text().splitlines()]
    return done.returncode, done.stdout + done.stderr, commands


def test_a_candidate_that_loses_stops_at_the_gate_with_exit_0_and_no_deploy(tmp_path):
    status, output, commands = run_make(tmp_path, 3)
    assert status == 0, output
    assert "make deploy: stopped at the gate, nothing deployed" in output
    assert commands == [
        "recommendations_export",
        "model.train_job",
        "model.register",
        "model.promote",
    ]


def test_an_approved_candidate_goes_on_to_the_canary(tmp_path):
    status, output, commands = run_make(tmp_path, 0)
    assert status == 0, output
    assert commands[-1] == "model.deploy"
    assert "--model-package" in (tmp_path / "steps").read_text().splitlines()[-1]


def test_a_gate_that_fails_is_an_error_and_nothing_is_deployed(tmp_path):
    status, _, commands = run_make(tmp_path, 1)
    assert status != 0
    assert "model.deploy" not in commands
