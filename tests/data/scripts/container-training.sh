#!/bin/bash
#SBATCH --partition=gpu
#SBATCH --time=24:00:00
#SBATCH --gres=gpu:a100:4
#SBATCH --container-image=/lustre/images/pytorch-24.01.sqsh
#SBATCH --container-mounts=/data:/data:ro,/scratch:/scratch
#SBATCH --container-workdir=/workspace
#SBATCH --container-env=WANDB_MODE,HF_HOME
#SBATCH --container-name=dev
#SBATCH --no-container-mount-home
#SBATCH --container-remap-root
export WANDB_MODE=offline
python train.py
