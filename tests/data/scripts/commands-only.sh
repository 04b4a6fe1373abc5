#!/bin/bash
#SBATCH --partition=cpu
#SBATCH --hold
echo hello
