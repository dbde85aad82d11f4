"""Child process for the kill test: save a big model again and again.

``python -m tests.training._save_loop PATH SLOW_FSYNC`` prints ``begin i`` before and
``done i`` after each save of a model whose every weight equals i. With SLOW_FSYNC=1,
fsync sleeps first from the third save on, widening the window between writing the
temporary file and renaming it, so a kill lands inside a save.
"""

import os
import sys
import time

import numpy as np

import pydl
from pydl import nn


class Big(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.zeros(2_000_000, np.float32))
        self.bias = nn.Parameter(np.zeros(10, np.float32))


def main(path, slow):
    real_fsync = os.fsync
    i = 0

    def slow_fsync(fd):
        if slow and i >= 3:
            time.sleep(0.5)
        real_fsync(fd)
    os.fsync = slow_fsync
    model = Big()
    while True:
        i += 1
        model.weight.data[...] = i
        model.bias.data[...] = i
        print(f"begin {i}", flush=True)
        pydl.save(path, model=model, epoch=i)
        print(f"done {i}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "1")
