#!/usr/bin/env bash
# Sets Runyard up, makes a small example project, submits three runs of it to the
# local target (SQLite store, no server), then shows the runs, the best one and its
# metrics. Usage: bash scripts/quickstart.sh [PROJECT_DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bash "$repo/scripts/setup.sh"
runyard="$repo/.venv/bin/runyard"
dir="${1:-${TMPDIR:-/tmp}/runyard-quickstart}"

rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
cp "$repo/templates/quickstart/train.py" "$repo/templates/quickstart/README.md" .
git init -q . && git add -A
git -c user.name=quickstart -c user.email=quickstart@localhost commit -qm "Quickstart project"
"$runyard" init

for lr in 0.02 0.1 0.4; do
  echo "== runyard submit train.py --lr $lr"
  "$runyard" submit train.py --lr "$lr" --epochs 30 | tail -n 3
done

echo; echo "== runyard runs list --sort loss:asc"
"$runyard" runs list --sort loss:asc
ids="$("$runyard" runs list --sort loss:asc --json | "$repo/.venv/bin/python" -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))')"
best="${ids%% *}"
echo; echo "== best run (lowest loss): runyard runs show $best"
"$runyard" runs show "$best"
echo; echo "== runyard runs metrics $best"
"$runyard" runs metrics "$best"
echo; echo "== runyard runs compare $ids"
# shellcheck disable=SC2086
"$runyard" runs compare $ids
echo
echo "The project is in $dir; its runs are in $dir/.runyard/state. Next, from there:"
echo "  $runyard runs logs $best      $runyard runs diff $best      $runyard submit train.py --lr 0.3"
