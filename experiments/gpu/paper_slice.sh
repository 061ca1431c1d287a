#!/usr/bin/env bash
# A slice of the `paper` grid that fits a 15-minute GPU lease: BERT-6 (the paper's preset) pre-trained on 20k
# packed Wikipedia sequences of 128 tokens, then fine-tuned on AG News (1000/label) and DBpedia-14 (100/label)
# next to its from-scratch twin, one seed. Results (results.json of each run) go to $OUT (or ./runs/gpu-slice).
#   usage: bash experiments/gpu/paper_slice.sh DATA_DIR [PRETRAIN_MINUTES] [PRESET]
set -euo pipefail
DATA=${1:-../shared/data}; MINUTES=${2:-5}; PRESET=${3:-bert-6}
OUT=${OUT:-runs/gpu-slice}; WORK=${WORK:-/tmp/gpu-slice}
mkdir -p "$OUT" "$WORK"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
common=(--data_dir "$DATA" --bf16 --dataloader_num_workers 4 --report_to none --logging_steps 100 --seed 42)

# Pre-training: the paper uses batch 32 and lr 5e-5 for 50 epochs; a GPU lease affords minutes, so batch 128 and a
# higher peak lr (2e-4, 6% warm-up) make the most of them. The time cap stops it cleanly with a final save.
python train_mlm.py --model_preset "$PRESET" --dataset_name wikipedia --pre_train_size 20000 \
  --output_dir "$WORK/mlm" --per_device_train_batch_size 128 --learning_rate 2e-4 --warmup_steps 0.06 \
  --num_train_epochs 40 --max_train_minutes "$MINUTES" --save_strategy no --eval_strategy no "${common[@]}"
cp "$WORK/mlm/results.json" "$OUT/pretrain.json"

# Fine-tuning: the paper's lr 5e-5 and batch 32; 10 epochs with model selection on the validation slice.
finetune() {  # task train_per_label test_per_label name extra-args...
  local task=$1 n_train=$2 n_test=$3 name=$4; shift 4
  python train_cls.py --task_name "$task" --samples_per_label_train "$n_train" --samples_per_label_test "$n_test" \
    --output_dir "$WORK/$name" --num_train_epochs "${FT_EPOCHS:-10}" --learning_rate 5e-5 --save_total_limit 1 "${common[@]}" "$@"
  cp "$WORK/$name/results.json" "$OUT/$name.json"
}
finetune ag_news 1000 950 agnews-pretrained --model_name_or_path "$WORK/mlm"
finetune ag_news 1000 950 agnews-scratch --from_scratch --model_preset "$PRESET"
finetune dbpedia_14 100 100 dbpedia-pretrained --model_name_or_path "$WORK/mlm"
finetune dbpedia_14 100 100 dbpedia-scratch --from_scratch --model_preset "$PRESET"
