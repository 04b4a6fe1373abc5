#!/bin/bash
#SBATCH --job-name="llm finetune"
#SBATCH --partition=gpu
#SBATCH --account=research
#SBATCH --output=logs/%x-%j.out
#SBATCH --error=logs/%x-%j.err
#SBATCH --chdir=/home/alice/project
#SBATCH --constraint=a100&ib
#SBATCH --array=0-3%2
#SBATCH --dependency=afterok:41
#SBATCH --mem=16384M
#SBATCH --time=1-00:00:00
#SBATCH --nodes=2
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=4
#SBATCH --gres=gpu:a100:4
#SBATCH --exclusive
export 'WANDB_PROJECT=my project'
export 'QUOTE=it'"'"'s $(not) `run`'
set -e
python train.py --epochs 3
