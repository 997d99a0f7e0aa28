"""Print the whole performance table (make bench): each bench script in turn, in its own process.

    .venv/bin/python bench/run_all.py [--quick]

--quick runs fewer frames, repeats and rates (a smoke run; the figures are noisier).
"""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (script, arguments, arguments with --quick)
SCRIPTS = [
    ("handlers.py", [], ["--frames", "3000", "--repeats", "3"]),
    # ccxt.pro under valgrind takes about 5 minutes for the five kinds: the full run only
    ("instructions.py", ["--frames", "1000", "--peers", "binance,ccxt"], ["--frames", "500", "--kinds", "trade,depth_1_level"]),
    ("decimal_costs.py", [], ["--n", "50000", "--repeats", "3"]),
    ("handler_loop.py", [], ["--repeats", "3"]),
    ("cold_cache.py", [], ["--frames", "5000", "--repeats", "1"]),
    ("end_to_end.py", [], ["--rates", "2000,10000,0", "--seconds", "2"]),
    ("memory_coldstart.py", [], []),
    ("ws_clients.py", [], ["--seconds", "2", "--repeats", "1"]),
    # each client's floor at the end-to-end firehose rate, on the loop FeedHandler installs
    ("ws_clients.py", ["--rate", "10000", "--loop", "uvloop"], ["--rate", "10000", "--loop", "uvloop", "--seconds", "2", "--repeats", "1"]),
    ("sim_throughput.py", [], ["--rates", "5000,20000", "--seconds", "2"]),
]


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failed = 0
    for script, full_args, quick_args in SCRIPTS:
        args = quick_args if quick else full_args
        print(f"\n== {script} {' '.join(args)}".rstrip(), flush=True)
        result = subprocess.run([sys.executable, str(HERE / script), *args], cwd=HERE.parent)
        if result.returncode:
            print(f"{script} exited {result.returncode}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
