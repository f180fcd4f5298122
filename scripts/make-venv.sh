#!/usr/bin/env bash
# Create the virtual environment with a Python >= 3.12 (the default python3 here is 3.11).
set -euo pipefail
venv=${1:-.venv}
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
if [ -x "$venv/bin/python" ] && ok "$venv/bin/python"; then exit 0; fi
rm -rf "$venv"
candidates=(python3.13 python3.12 python3)
for v in 3.13 3.12; do
  for p in "$HOME"/.pyenv/versions/$v*/bin/python /usr/local/bin/python$v /usr/bin/python$v; do
    [ -x "$p" ] && candidates+=("$p")
  done
done
for c in "${candidates[@]}"; do
  p=$(command -v "$c" 2>/dev/null || true)
  if [ -n "$p" ] && ok "$p"; then
    echo "creating $venv with $("$p" --version)"
    "$p" -m venv "$venv"
    exit 0
  fi
done
echo "hierlmm needs Python >= 3.12; install one (e.g. pyenv install 3.12) and rerun" >&2
exit 1
