"""Run every benchmark script in bench/ and print their figures (make bench)."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in sorted(HERE.glob("*.py")):
    # fault_campaign.py measures correctness over minutes, not speed: run it on its own
    if script.name in ("run_all.py", "__init__.py", "fault_campaign.py"):
        continue
    print(f"== {script.name}", flush=True)
    result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
    if result.returncode:
        print(f"{script.name} exited {result.returncode}")
