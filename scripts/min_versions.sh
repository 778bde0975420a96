#!/usr/bin/env bash
# Prove the dependency floors written in pyproject.toml: install the OLDEST allowed release of
# every runtime dependency (torch, numpy, matplotlib, tqdm, ipywidgets, psutil, threadpoolctl)
# into a fresh virtual environment, then run the quick test tier there.
#
#   bash scripts/min_versions.sh                      # every floor as written
#   bash scripts/min_versions.sh "numpy==2.0.0"       # the floors, but numpy 2 (extra pins win)
#
# Needs Python 3.11+ (tomllib) and PyPI (the old torch releases there are CUDA builds: about 3 GB to download; they run on
# a CPU-only machine too). The environment goes to $MIN_VERSIONS_VENV (default: a temporary
# folder, removed after).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${MIN_VERSIONS_VENV:-$(mktemp -d)/venv}

python3 -m venv --clear "$venv"
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip

# "torch>=2.3.1" -> "torch==2.3.1": exactly the floor.
constraints="$venv/floors.txt"
python - "$@" > "$constraints" <<'PY'
import re, sys, tomllib
with open("pyproject.toml", "rb") as file:
    dependencies = tomllib.load(file)["project"]["dependencies"]
extra = {re.split(r"[=<>!~]", pin)[0].strip().lower(): pin for pin in sys.argv[1:]}
for requirement in dependencies:
    name, floor = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)\s*", requirement).groups()
    print(extra.get(name.lower(), f"{name}=={floor}"))
PY
echo "== floors:" $(cat "$constraints")

python -m pip install --quiet -c "$constraints" -r "$constraints"
python -m pip install --quiet -c "$constraints" -e "$root[test,course]"
python - <<'PY'
import importlib.metadata as metadata
for name in ("torch", "numpy", "matplotlib", "tqdm", "ipywidgets", "psutil", "threadpoolctl"):
    print(f"   {name} {metadata.version(name)}")
PY

echo "== quick tier with the floors"
python -m pytest -q -p no:cacheprovider -m "not slow and not browser" -x tests
