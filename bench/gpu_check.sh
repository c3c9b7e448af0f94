#!/usr/bin/env bash
# The CUDA check, on one GPU, in under 8 minutes of machine time:
#   1. the equivalence tests on CUDA (tests/test_cuda.py: cuDNN against the transparent path,
#      CUDA against CPU, device-resident batches, a few training steps, bf16 autocast);
#   2. the seed experiment's three trainings (RNN, LSTM, GRU, 5 epochs, gradients recorded) on
#      the full IMDB splits with the seed preset, then with the fast preset, then fast with bf16;
#   3. a table of accuracy, training time and samples/s per model (bench/gpu_table.py).
# Each step has its own time limit and later steps are skipped when the budget is spent, so the
# table always prints for what finished. Logs and reports go to OUT_DIR.
#
# Usage: RNNLAB_IMDB=/path/to/aclImdb_v1.tar.gz bash bench/gpu_check.sh [OUT_DIR]
# Needs: a CUDA GPU, torch, the packages of requirements.txt that training uses (nltk with its
# stop-word list in $NLTK_DATA, pandas, pyarrow, scikit-learn, safetensors, tqdm), pytest.
set -u
cd "$(dirname "$0")/.."
OUT_DIR=${1:-gpu-check}
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-450}  # leaves a margin inside the 8 minutes for the machine's own start-up
DEVICE=${DEVICE:-cuda}     # DEVICE=cpu LIMIT=300 EPOCHS=1 rehearses the script without a GPU
export LIMIT=${LIMIT:-}    # reviews per split; empty = the full splits
EPOCHS=${EPOCHS:-}
EXTRA="${LIMIT:+--limit $LIMIT} ${EPOCHS:+--epochs $EPOCHS}"
export RNNLAB_HOME=${RNNLAB_HOME:-$(mktemp -d)}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT_DIR"
log() { echo "== [${SECONDS}s] $*"; }
left() { echo $((BUDGET_S - SECONDS)); }

log "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '| cuDNN',
torch.backends.cudnn.version(), '|', torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO GPU')"

log "equivalence tests on CUDA"
RNNLAB_REQUIRE_CUDA=1 timeout 120 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py \
    >"$OUT_DIR/tests.log" 2>&1
echo "pytest exit $?"; tail -n 4 "$OUT_DIR/tests.log"

log "encoding the corpus (once; every arm below reuses it)"
timeout 150 "$PY" -m core data info --json --no-stats >"$OUT_DIR/data.json" 2>"$OUT_DIR/data.log"
echo "data info exit $?"
timeout 150 "$PY" - <<'EOF' 2>>"$OUT_DIR/data.log"
import os
import time
from core.config import preset
from core.data.corpus import load_corpus
cfg = preset("seed", **({"limit": int(os.environ["LIMIT"])} if os.environ.get("LIMIT") else {}))
t0 = time.perf_counter()
c = load_corpus(cfg.data, cfg.text)
print(f"encoded corpus: {', '.join(f'{k} {len(v)}' for k, v in c.splits.items())} in {time.perf_counter() - t0:.1f} s")
EOF

# arm name, time limit (s), extra experiment options
ARMS=("seed 210 --preset seed" "fast 100 --preset fast" "fast-bf16 100 --preset fast --bf16")
for arm in "${ARMS[@]}"; do
    set -- $arm
    name=$1 limit=$2; shift 2
    if [ "$(left)" -lt 60 ]; then log "skipping $name: budget spent"; continue; fi
    [ "$limit" -gt "$(left)" ] && limit=$(left)
    log "experiment: $name ($*), limit ${limit}s"
    # shellcheck disable=SC2086  # EXTRA holds several options
    timeout "$limit" "$PY" -m core experiment seed --device "$DEVICE" --no-ablations --no-hmm --no-horizon \
        --out "$OUT_DIR/$name" "$@" $EXTRA >"$OUT_DIR/$name.log" 2>&1
    echo "exit $?"; grep -E "Error|error:" "$OUT_DIR/$name.log" | tail -n 4
done

log "table"
"$PY" bench/gpu_table.py "$OUT_DIR"/seed/runs.csv "$OUT_DIR"/fast/runs.csv "$OUT_DIR"/fast-bf16/runs.csv
log "done"
