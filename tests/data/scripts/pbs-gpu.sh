#!/bin/bash
#PBS -N "llm finetune"
#PBS -q gpu
#PBS -A research
#PBS -o logs/out.txt
#PBS -l select=2:ncpus=8:ngpus=4:mem=65536mb
#PBS -l walltime=24:00:00
#PBS -W depend=afterok:41
#PBS -J 0-3
#PBS -j oe
cd /home/alice/project || exit 1
export 'WANDB_PROJECT=my project'
python train.py
