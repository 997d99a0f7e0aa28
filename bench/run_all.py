"""Print the whole performance table (make bench): each bench script in turn, in its own process.

    .venv/bin/python bench/run_all.py [--quick]

--quick runs fewer frames, repeats and rates (a smoke run; the figures are noisier).
"""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = [
    ("handlers.py", []),
    ("instructions.py", []),
    ("decimal_costs.py", []),
    ("end_to_end.py", []),
    ("memory_coldstart.py", []),
    ("ws_clients.py", []),
    ("sim_throughput.py", []),
]
QUICK = {
    "handlers.py": ["--frames", "3000", "--repeats", "3"],
    "instructions.py": ["--frames", "500", "--kinds", "trade,depth_1_level"],
    "decimal_costs.py": ["--n", "50000", "--repeats", "3"],
    "end_to_end.py": ["--rates", "2000,10000,0", "--seconds", "2"],
    "ws_clients.py": ["--seconds", "2", "--repeats", "1"],
    "sim_throughput.py": ["--rates", "5000,20000", "--seconds", "2"],
}


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failed = 0
    for script, args in FULL:
        if quick:
            args = QUICK.get(script, args)
        print(f"\n== {script} {' '.join(args)}".rstrip(), flush=True)
        result = subprocess.run([sys.executable, str(HERE / script), *args], cwd=HERE.parent)
        if result.returncode:
            print(f"{script} exited {result.returncode}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
