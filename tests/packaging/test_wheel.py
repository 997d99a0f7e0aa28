"""What `pip install cryptofeed-backpack` gives a new user: the built wheel in a clean virtualenv with
its runtime dependencies only (no dev extra: no trustme, no pytest), run from outside the checkout.
"""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("demo", "simulate", "auth-check", "markets", "stream", "collect")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    # built as any user's pip builds it: in an isolated environment with the build-system requirements
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(work / "dist"), str(ROOT)], check=True, capture_output=True)
    wheel = next((work / "dist").glob("cryptofeed_backpack-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    bin_dir = work / "venv" / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], check=True,
                   capture_output=True)
    run_dir = work / "elsewhere"  # not the checkout: nothing may come from the source tree
    run_dir.mkdir()
    return {"wheel": wheel, "bin": bin_dir, "cwd": run_dir}


def run(installed, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=installed["cwd"])


def test_the_wheel_holds_only_the_package_and_its_licence(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"cryptofeed_backpack", next(t for t in top if t.endswith(".dist-info"))}
    assert "cryptofeed_backpack/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(installed["wheel"]).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "License-Expression: MIT" in metadata and "Classifier: Typing :: Typed" in metadata
    for extra in ("ccxt", "redis", "postgres", "kafka", "zmq"):
        assert f"Provides-Extra: {extra}" in metadata


def test_no_dev_dependency_is_installed(installed):
    python = str(installed["bin"] / "python")
    probe = run(installed, python, "-c", "import importlib.util as u; print([m for m in ('trustme', 'pytest', 'tools') if u.find_spec(m)])")
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stderr


def test_every_subcommand_has_help(installed):
    cli = str(installed["bin"] / "cryptofeed-backpack")
    top = run(installed, cli, "--help")
    assert top.returncode == 0 and "exit codes:" in top.stdout, top.stderr
    for command in SUBCOMMANDS:
        assert command in top.stdout
        done = run(installed, cli, command, "--help")
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.startswith(f"usage: cryptofeed-backpack {command}") and not done.stderr, command


def test_demo_runs_on_the_embedded_simulator(installed):
    done = run(installed, str(installed["bin"] / "cryptofeed-backpack"), "demo", "--duration", "3")
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("done: ") and int(last.split()[1]) > 0, last
    assert "Traceback" not in done.stderr


def test_the_example_and_the_simulator_module_run(installed):
    python = str(installed["bin"] / "python")
    example = run(installed, python, str(ROOT / "examples" / "backpack_demo.py"), "--seconds", "2")
    assert example.returncode == 0, example.stderr
    assert "trade " in example.stdout and "book " in example.stdout
    sim = run(installed, python, "-m", "cryptofeed_backpack.simulator", "--duration", "1")
    assert sim.returncode == 0, sim.stderr
    assert sim.stdout.startswith("REST   https://127.0.0.1:") and "STATS" in sim.stdout
