#!/usr/bin/env bash
# Issue 25 on a lent GPU: several variants of configs/multi30k_base.yaml trained side by side on one
# GPU, each for the same time budget (train.max_hours), each ending as the config says (the kept
# epochs averaged, best.pt and its length penalty chosen on the validation set). Then every run's
# best.pt decodes val and test2016 with its own search settings. Nothing here chooses on test2016:
# the runs are ranked by the validation BLEU of their end-of-training choice, and only the best
# two best.pt files come back (models/README.md: a release is chosen on validation).
#
#   DATA=.gpu-data OUT=... MINUTES=6.3 bash scripts/gpu_quality.sh
#   ONLY="b8k_e60 b16k_e90 b32k_e110" MINUTES=6.5 bash scripts/gpu_quality.sh   # a few, each with a cooldown
#   VALIDATE_EVERY=5 ...   # validate after every 5th epoch only (the greedy decoding took 1.2-2.4 s of a 6-7 s GPU epoch)
#
# DATA holds Multi30k (`seq2seq data multi30k --out .gpu-data --from ../shared/data/multi30k`) and
# may hold cache/ with the config's SentencePiece model (copied into each run's cache, so no run
# trains it again). Results in $OUT: results.tar.gz (each run's train.log, validations.tsv,
# config.yaml, val and test2016 translations, nvidia-smi) and the two best runs' best.pt, named
# after their variant. QUICK=1 rehearses it on a CPU in a few minutes (a small corpus and model).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=. PYTHONUNBUFFERED=1
DATA="${DATA:-.gpu-data}"
OUT="${OUT:-gpu-out}"
MINUTES="${MINUTES:-6.3}"          # training time of each run, all running at once
QUICK="${QUICK:-0}"
WORK="${WORK:-/tmp/gpu_quality}"
mkdir -p "$OUT" && rm -rf "$WORK" && mkdir -p "$WORK/runs" "$WORK/results"
log() { echo "== $* $(date -Is)" | tee -a "$WORK/results/gpu_quality.log"; }

# name | settings on top of configs/multi30k_base.yaml
VARIANTS=(
  "base|"
  "base_seed7|--set train.seed=7"
  "rdrop|--set train.rdrop_alpha=5"
  "b8k|--set data.batch_tokens=8192 --set train.lr=0.005 --set train.warmup_steps=1000"
  "rdrop_b8k|--set data.batch_tokens=8192 --set train.lr=0.005 --set train.warmup_steps=1000 --set train.rdrop_alpha=5"
  "b16k|--set data.batch_tokens=16384 --set train.lr=0.006 --set train.warmup_steps=500"
  "b8k_e200|--set data.batch_tokens=8192 --set train.lr=0.005 --set train.warmup_steps=1000 --set train.epochs=200 --set train.cooldown_epochs=20"
  "b16k_v5|--set data.batch_tokens=16384 --set train.lr=0.006 --set train.warmup_steps=500 --set train.validate_every=5"
  "b8k_e60|--set data.batch_tokens=8192 --set train.lr=0.005 --set train.warmup_steps=1000 --set train.epochs=60 --set train.cooldown_epochs=10"
  "b16k_e90|--set data.batch_tokens=16384 --set train.lr=0.006 --set train.warmup_steps=500 --set train.epochs=90 --set train.cooldown_epochs=12"
  "b32k_e110|--set data.batch_tokens=32768 --set train.lr=0.008 --set train.warmup_steps=250 --set train.epochs=110 --set train.cooldown_epochs=15"
  "attdrop|--set model.transformer.attention_dropout=0.1 --set model.transformer.activation_dropout=0.1"
  "kd|--set data.distill_from=models/multi30k_en_de.pt"  # the released model teaches (README, "Knowledge distillation")
  # another round of what made the released model (models/README.md): fine-tuned on its own translations, three seeds
  "ft_kd|--set train.init_from=models/multi30k_en_de.pt --set data.distill_from=models/multi30k_en_de.pt --set train.epochs=16 --set train.lr=0.001 --set train.warmup_steps=300 --set train.cooldown_epochs=8 --set train.keep_last=8"
  "ft_kd_seed7|--set train.init_from=models/multi30k_en_de.pt --set data.distill_from=models/multi30k_en_de.pt --set train.epochs=16 --set train.lr=0.001 --set train.warmup_steps=300 --set train.cooldown_epochs=8 --set train.keep_last=8 --set train.seed=7"
  "ft_kd_seed8|--set train.init_from=models/multi30k_en_de.pt --set data.distill_from=models/multi30k_en_de.pt --set train.epochs=16 --set train.lr=0.001 --set train.warmup_steps=300 --set train.cooldown_epochs=8 --set train.keep_last=8 --set train.seed=8"
  "rdrop_b8k_e200|--set data.batch_tokens=8192 --set train.lr=0.005 --set train.warmup_steps=1000 --set train.epochs=200 --set train.cooldown_epochs=20 --set train.rdrop_alpha=5"
)
if [ -n "${ONLY:-}" ]; then  # ONLY="b8k_e200 rdrop_b8k_e200": those variants alone, each with more of the GPU
  kept=()
  for v in "${VARIANTS[@]}"; do [[ " $ONLY " == *" ${v%%|*} "* ]] && kept+=("$v"); done
  VARIANTS=("${kept[@]}")
fi
SMALL=()
if [ "$QUICK" = 1 ]; then
  Q="$WORK/small"; mkdir -p "$Q"
  for f in train val; do for l in en de; do head -2000 "$DATA/$f.$l" > "$Q/$f.$l"; done; done
  head -100 "$DATA/test_2016_flickr.en" > "$Q/test_2016_flickr.en"
  DATA="$Q"
  SMALL=(--set tokenizer.vocab_size=1000 --set model.transformer.encoder_layers=1
         --set model.transformer.decoder_layers=1 --set data.batch_tokens=2048 --set train.keep_last=2
         --set "search.length_penalties=[1.0,1.4]" --set train.warmup_steps=20)
  VARIANTS=("${VARIANTS[0]}" "${VARIANTS[2]}")
fi
HOURS=$(python3 -c "print($MINUTES / 60)")

log "environment"
{ python3 -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))"
  nproc; nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>/dev/null; } \
  | tee -a "$WORK/results/gpu_quality.log"

log "training ${#VARIANTS[@]} runs side by side, $MINUTES min each"
for v in "${VARIANTS[@]}"; do
  name="${v%%|*}"; settings="${v#*|}"
  mkdir -p "$WORK/runs/$name.cache"
  [ -d "$DATA/cache" ] && cp -r "$DATA/cache/." "$WORK/runs/$name.cache/"
  # shellcheck disable=SC2086  # settings split into --set pairs on purpose
  timeout -s TERM "$(python3 -c "print(int($MINUTES * 60 + 150))")" \
    python3 -m seq2seq train configs/multi30k_base.yaml \
    --set run_dir="$WORK/runs/$name" --set cache_dir="$WORK/runs/$name.cache" \
    --set data.train_src="$DATA/train.en" --set data.train_tgt="$DATA/train.de" \
    --set data.valid_src="$DATA/val.en" --set data.valid_tgt="$DATA/val.de" \
    --set train.epochs=1000 --set train.max_hours="$HOURS" --set search.batch_tokens=30000 \
    --set train.examples=0 --set train.validate_every="${VALIDATE_EVERY:-1}" "${SMALL[@]}" $settings > "$WORK/results/$name.stderr" 2>&1 &
done
(sleep 60; nvidia-smi > "$WORK/results/nvidia-smi.txt" 2>&1) &
wait
log "training done"

for v in "${VARIANTS[@]}"; do
  name="${v%%|*}"; run="$WORK/runs/$name"
  [ -f "$run/best.pt" ] || { log "$name: no best.pt"; continue; }
  for set in val test_2016_flickr; do
    python3 -m seq2seq translate "$run/best.pt" -i "$DATA/$set.en" -o "$WORK/results/$name.$set.hyp" \
      --batch-tokens 30000 2>> "$WORK/results/$name.stderr" &
  done
  cp "$run/train.log" "$run/validations.tsv" "$run/config.yaml" "$WORK/results/" 2>/dev/null
  for f in train.log validations.tsv config.yaml; do mv "$WORK/results/$f" "$WORK/results/$name.$f" 2>/dev/null; done
done
wait
log "decoded"

# rank on the validation BLEU of each run's final choice ("chosen for ...: ... (BLEU x)")
python3 - "$WORK" > "$WORK/results/ranking.tsv" <<'EOF'
import re, sys
from pathlib import Path
work = Path(sys.argv[1])
rows = []
for log in sorted((work / "results").glob("*.train.log")):
    name = log.name.removesuffix(".train.log")
    chosen = re.findall(r"chosen for .*?: (.*) \(BLEU ([\d.]+)\)", log.read_text(encoding="utf-8"))
    if chosen:
        rows.append((float(chosen[-1][1]), name, chosen[-1][0]))
for bleu, name, what in sorted(rows, reverse=True):
    print(f"{name}\t{bleu}\t{what}")
EOF
cat "$WORK/results/ranking.tsv" | tee -a "$WORK/results/gpu_quality.log"
for name in $(head -2 "$WORK/results/ranking.tsv" | cut -f1); do
  cp "$WORK/runs/$name/best.pt" "$OUT/$name.best.pt"
done
tar -czf "$OUT/results.tar.gz" -C "$WORK" results
log "done: $(ls "$OUT")"
