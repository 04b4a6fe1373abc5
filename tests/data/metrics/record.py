"""Records the small metric files the unit tests read (tests/unit/test_metrics*.py).

Run once with tensorboardX and tensorboard installed (`pip install tensorboardX tensorboard`):
    python tests/data/metrics/record.py tests/data/metrics
The values are a formula so the tests can check them: loss = 2 / (step + 1), lr = 0.1 halved every 10 steps.
tb/ holds tensorboardX's form (simple_value); tb-tensor/ the form tf.summary writes in TF 2 (a scalar tensor
with the `scalars` plugin), written by TensorBoard's own TensorFlow-free writer.
"""

import sys
from pathlib import Path

from tensorboard.summary import Writer
from tensorboardX import SummaryWriter

out = Path(sys.argv[1])
writer = SummaryWriter(logdir=str(out / "tb"), flush_secs=1, filename_suffix=".recorded")
for step in range(30):
    writer.add_scalar("train/loss", 2.0 / (step + 1), step)
    writer.add_scalar("train/lr", 0.1 * 0.5 ** (step // 10), step)
    if step % 5 == 0:
        writer.add_scalar("eval/accuracy", step / 30, step)
writer.add_text("note", "text is not a scalar and is left out", 0)
writer.close()

native = Writer(str(out / "tb-tensor"))
for step in range(0, 30, 3):
    native.add_scalar("train/loss", 2.0 / (step + 1), step=step)
native.close()
