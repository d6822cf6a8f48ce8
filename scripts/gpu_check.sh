#!/usr/bin/env bash
# Everything to check and measure on a lent GPU machine, in one command (DEVELOPERS.md):
#   1. tests/system/test_cuda.py (training in fp32/bf16/fp16, resume, CPU == GPU decoding, compiled == eager)
#   2. training throughput of the reference model, eager and compiled, batches of 64 and 512
#   3. decoding speed on test2016, greedy and beam 5, eager and compiled
#   4. the LSTM-Luong batch-256 recipe, trained for a fixed time, then test2016 LT BLEU
# Data: DATA=data/multi30k (`seq2seq data multi30k --from ../shared/data/multi30k`; carry it). Results
# go to $OUT (default ./gpu-out) as small JSON and log files. QUICK=1 rehearses it on any machine
# in a few minutes (a few steps, a small corpus).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
DATA="${DATA:-data/multi30k}"
OUT="${OUT:-gpu-out}"
DEVICE="${DEVICE:-cuda}"
QUICK="${QUICK:-0}"
mkdir -p "$OUT"
log() { echo "== $* $(date -Is)" | tee -a "$OUT/gpu_check.log"; }

if [ "$QUICK" = 1 ]; then
  STEPS=8; TRAIN_SECONDS=60; SMALL="$OUT/small"; mkdir -p "$SMALL"
  for f in train val; do for l in en de; do head -3000 "$DATA/$f.$l" > "$SMALL/$f.$l"; done; done
  for f in test_2016_flickr.en test_2016_flickr.de test_2016_flickr.lc.norm.tok.de; do
    head -100 "$DATA/$f" > "$SMALL/$f"
  done
  DATA="$SMALL"
  TINY=(--set tokenizer.vocab_size=500)
  BATCHES="64 256"; COMPILES="false"  # inductor compiles for minutes on a CPU; tests/unit/models/test_compiled_steps.py covers it
else
  STEPS=150; TRAIN_SECONDS=90; TINY=(); BATCHES="64 512"; COMPILES="false true"
fi

log "environment"
python3 -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))" \
  | tee -a "$OUT/gpu_check.log"

log "tests/system/test_cuda.py"
SEQ2SEQ_TEST_CUDA_DEVICE="$DEVICE" python3 -m pytest -q tests/system/test_cuda.py tests/unit/models/test_compiled_steps.py \
  > "$OUT/tests.log" 2>&1
echo "tests exit $?" | tee -a "$OUT/gpu_check.log"

log "training throughput (scripts/benchmark.py --steps $STEPS)"
for batch in $BATCHES; do
  for compile in $COMPILES; do
    python3 scripts/benchmark.py --steps "$STEPS" --device "$DEVICE" --precision bf16 --data "$DATA" \
      --peers none --set data.batch_sentences=$batch --set train.compile=$compile "${TINY[@]}" \
      > "$OUT/train_b${batch}_compile_${compile}.json" 2>> "$OUT/benchmark.log"
    echo "batch $batch compile $compile exit $?" | tee -a "$OUT/gpu_check.log"
  done
done

log "the LSTM-Luong batch-256 recipe for ${TRAIN_SECONDS} s, then decoding speed"
RUN="$OUT/run_lstm_luong"
rm -rf "$RUN"
timeout -s TERM "$TRAIN_SECONDS" python3 -m seq2seq train configs/multi30k_lstm_luong.yaml \
  --set run_dir="$RUN" --set cache_dir="$OUT/cache" --set train.device="$DEVICE" \
  --set train.precision=bf16 --set train.compile="${COMPILES##* }" --set data.batch_sentences=256 \
  --set train.lr=0.002 --set train.examples=0 "${TINY[@]}" \
  --set data.train_src="$DATA/train.en" --set data.train_tgt="$DATA/train.de" \
  --set data.valid_src="$DATA/val.en" --set data.valid_tgt="$DATA/val.de" > "$OUT/lstm_luong.log" 2>&1
echo "training exit $? (124: stopped by the time limit, as planned)" | tee -a "$OUT/gpu_check.log"
MODEL="$RUN/best.pt"
if [ -f "$MODEL" ]; then
  python3 scripts/quality.py test "$MODEL" --data "$DATA" > "$OUT/lstm_luong_quality.json" 2>> "$OUT/quality.log"
  echo "quality exit $?" | tee -a "$OUT/gpu_check.log"
  for compile in "" $([ "$COMPILES" != false ] && echo --compile); do
    python3 scripts/decode_speed.py "$MODEL" --device "$DEVICE" --batch-tokens 32000 --repeat 2 \
      --searches greedy beam5_no_lp --src "$DATA/test_2016_flickr.en" --ref "$DATA/test_2016_flickr.de" \
      $compile > "$OUT/decode${compile:+_compiled}.json" 2>> "$OUT/decode.log"
    echo "decoding ${compile:-eager} exit $?" | tee -a "$OUT/gpu_check.log"
  done
fi
rm -rf "$OUT/cache" "$RUN"/*.pt "${SMALL:-/nonexistent}"
log "done: $OUT"
