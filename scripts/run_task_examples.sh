#!/usr/bin/env bash
# Every registered task end to end on a CPU, on small files in each task's official format and folder layout.
#
#   bash scripts/run_task_examples.sh                 # all tasks (configs/tasks/*.yaml)
#   bash scripts/run_task_examples.sh xquad panx      # some of them
#
# (a) writes the example data into examples/data/<task>/ and a tiny random 2-layer BERT into examples/tiny-model/
#     (both generated, deterministic, and ignored by git: `python -m xstilts.provision.examples`);
# (b) runs `xstilts run configs/tasks/<task>.yaml` (`xstilts eval` for the retrieval-only configs) for each task,
#     into a fresh folder (runs/task-examples, or $XSTILTS_EXAMPLES_OUT) with its own xstilts cache, offline;
# (c) prints one line per task (task, status, headline metric and score, languages, seconds) and exits non-zero if
#     any task failed; each task's output is in <out>/logs/<task>.log.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
XS=${XSTILTS:-.venv/bin/xstilts}
OUT=${XSTILTS_EXAMPLES_OUT:-runs/task-examples}
export XSTILTS_CACHE="$OUT/cache" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

rm -rf "$OUT"
mkdir -p "$OUT/logs"
if ! "$PY" -m xstilts.provision.examples --out examples/data --model examples/tiny-model > "$OUT/logs/_setup.log" 2>&1
then
  cat "$OUT/logs/_setup.log" >&2
  echo "could not write the example data or the tiny model" >&2
  exit 1
fi

if [ $# -gt 0 ]; then
  configs=()
  for t in "$@"; do configs+=("configs/tasks/$t.yaml"); done
else
  configs=(configs/tasks/*.yaml)
fi

failed=0
total_start=$(date +%s.%N)
printf '%-26s %-7s %-22s %7s %6s %8s\n' task status metric score langs seconds
for cfg in "${configs[@]}"; do
  task=$(basename "$cfg" .yaml)
  log="$OUT/logs/$task.log"
  start=$(date +%s.%N)
  if cmd=$("$PY" -m xstilts.provision.examples --command "$cfg" 2> "$log") \
     && "$XS" "$cmd" "$cfg" --set "output_dir=$OUT/runs" >> "$log" 2>&1 \
     && line=$("$PY" -m xstilts.provision.examples --headline "$cfg" --runs "$OUT/runs" 2>> "$log"); then
    IFS=$'\t' read -r _ metric score langs <<< "$line"
    status=ok
  else
    metric=-; score=-; langs=-; status=FAILED
    failed=$((failed + 1))
  fi
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  printf '%-26s %-7s %-22s %7s %6s %8s\n' "$task" "$status" "$metric" "$score" "$langs" "$secs"
  if [ "$status" = FAILED ]; then tail -n 5 "$log" | sed 's/^/    /'; fi
done
total=$(awk -v a="$total_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
echo "${#configs[@]} task(s), $failed failed, ${total} s; logs in $OUT/logs"
[ "$failed" -eq 0 ]
