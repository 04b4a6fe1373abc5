"""Every line hpcbridge recognises in a running job's output: trouble and progress, in this one place.

Each pattern carries a public example of the line it matches and where that line comes from; the unit tests
(tests/unit/test_progress_patterns.py) check every example matches and near-misses do not. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TroublePattern:
    cause: str  # a stable keyword (diagnose_job's causes where they overlap)
    label: str  # what list_jobs shows, a few words
    regex: re.Pattern[str]
    example: str  # a real line of this kind
    source: str  # where the example comes from


# Most specific first: a CUDA OOM also prints a traceback; the first pattern that matches a log names it.
TROUBLE: tuple[TroublePattern, ...] = (
    TroublePattern(
        "gpu_out_of_memory", "CUDA out of memory",
        re.compile(r"\bCUDA out of memory\b|torch\.(cuda\.)?OutOfMemoryError"),
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 79.15 GiB total "
        "capacity; 77.60 GiB already allocated; 3.31 MiB free; 78.10 GiB reserved in total by PyTorch)",
        "PyTorch c10/cuda/CUDACachingAllocator.cpp (message since 1.x; the class is torch.cuda.OutOfMemoryError "
        "since 2.0)"),
    TroublePattern(
        "nccl_timeout", "NCCL timeout",
        re.compile(r"Watchdog caught collective operation timeout|\bNCCL\b.*\b(timed out|timeout)\b"),
        "[Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=3, OpType=ALLREDUCE, "
        "NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600071 milliseconds before timing out.",
        "PyTorch torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp (the watchdog's message, 2.x)"),
    TroublePattern(
        "out_of_memory", "killed: out of memory",
        # slurmstepd 22.05+ ("oom_kill event"), older "oom-kill event(s)"; the kernel's own line when dmesg
        # reaches the log; bash's job-control line for a child killed by SIGKILL (the OOM killer's signal)
        re.compile(r"Detected \d+ oom[-_]kill events?|Out of memory: Killed process \d+|"
                   r"^.*: line \d+: +\d+ Killed\b|^Killed$"),
        "slurmstepd: error: Detected 1 oom_kill event in StepId=4321.batch. Some of the step tasks have been "
        "OOM Killed.",
        "Slurm src/plugins/task/cgroup (slurmstepd, 22.05+); also bash's '/var/spool/slurmd/job4321/slurm_script: "
        "line 7:  1234 Killed  python train.py'"),
    TroublePattern(
        "segfault", "segmentation fault",
        re.compile(r"\bSegmentation fault\b"),
        "/var/spool/slurmd/job4321/slurm_script: line 9: 2233 Segmentation fault      (core dumped) ./a.out",
        "bash (strsignal(SIGSEGV) in its job-control report); a bare shell prints 'Segmentation fault (core "
        "dumped)'"),
    TroublePattern(
        "time_limit", "time limit reached",
        re.compile(r"\*\*\* (JOB|STEP) \S+ ON \S+ CANCELLED AT \S+ DUE TO TIME LIMIT|"
                   r"PBS: job killed: walltime \d+ exceeded limit \d+"),
        "slurmstepd: error: *** JOB 4321 ON gpu1 CANCELLED AT 2024-05-01T12:00:03 DUE TO TIME LIMIT ***",
        "Slurm src/slurmd/slurmstepd/req.c (slurmstepd's cancel notice); PBS MoM writes '=>> PBS: job killed: "
        "walltime 3630 exceeded limit 3600'"),
    TroublePattern(
        "python_exception", "Python traceback",
        re.compile(r"^Traceback \(most recent call last\):\s*$"),
        "Traceback (most recent call last):",
        "CPython Python/traceback.c (the header of every uncaught exception's report)"),
)

# The exception line that ends a traceback: `RuntimeError: boom`, `KeyboardInterrupt`, `module.Error: x`.
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b.*|[A-Za-z_][\w.]*: .+)$")


@dataclass(frozen=True)
class ProgressPattern:
    kind: str  # tqdm, step, epoch, percent
    regex: re.Pattern[str]
    example: str
    source: str


_NUM = r"(\d+(?:\.\d+)?[kMGTP]?)"
PROGRESS: tuple[ProgressPattern, ...] = (
    ProgressPattern(
        "tqdm",
        # {l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]
        re.compile(r"(?P<pct>\d{1,3})%\|[^|]*\|\s*" + _NUM.replace("(", "(?P<n>", 1) + "/"
                   + _NUM.replace("(", "(?P<total>", 1)
                   + r"\s*\[(?P<elapsed>[\d:]+)<(?P<eta>[\d:]+|\?),\s*(?P<rate>[\d.]+|\?)\s*(?P<unit>[A-Za-z]+/s|s/[A-Za-z]+)"),
        "train:  24%|██▍       | 1200/5000 [06:27<20:14,  3.10it/s, loss=0.123]",
        "tqdm's default bar_format (tqdm/std.py format_meter: '{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<"
        "{remaining}, {rate_fmt}{postfix}]')"),
    ProgressPattern(
        "step",
        re.compile(r"\b(?:global[_ ])?(?:step|iter(?:ation)?|batch)\b\s*[:=\[]?\s*(?P<n>\d+)\s*/\s*(?P<total>\d+)",
                   re.IGNORECASE),
        "step 1200/5000 | loss 2.314 | lr 3.0e-04",
        "the 'step N/M' form of nanoGPT-style and Hugging Face-style training loops; also 'Iteration [1200/5000]'"),
    ProgressPattern(
        "epoch",
        re.compile(r"\bepoch\b\s*[:=\[]?\s*(?P<n>\d+)\s*/\s*(?P<total>\d+)", re.IGNORECASE),
        "Epoch 3/10",
        "Keras Model.fit's per-epoch header (keras/src/callbacks/progbar_logger.py prints 'Epoch 3/10')"),
    ProgressPattern(
        "percent",
        re.compile(r"\b(?:progress|complete|completed|done)\b\W{0,3}(?P<pct>\d{1,3}(?:\.\d+)?)\s?%|"
                   r"(?P<pct2>\d{1,3}(?:\.\d+)?)\s?% (?:complete|completed|done)\b", re.IGNORECASE),
        "Progress: 45.0% complete",
        "generic simulation/ETL loggers (e.g. GROMACS-style '45% complete'); a bare percentage is not progress"),
)

# A rate written by the program itself beside a step line: `3.1 it/s`, `812 samples/s`, `0.42 s/it`.
RATE = re.compile(r"(?P<rate>\d+(?:\.\d+)?)\s*(?P<unit>it/s|s/it|samples/s|tokens/s|tok/s|steps/s|s/step)\b")
