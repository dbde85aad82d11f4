"""A small training job for the resume test; ``python -m tests.training._resume_job
CKPT OUT EPOCHS`` resumes from CKPT in a fresh process and saves the final weights."""

import sys

import numpy as np

import pydl
from pydl import nn
from pydl.optim import SGD

from tests.training._fakes import HalvingLR


def build():
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    optimizer = SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True)
    scheduler = HalvingLR(optimizer, every=2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((45, 6)).astype(np.float32)
    y = rng.integers(0, 3, 45)
    return model, optimizer, scheduler, x, y


def train(model, optimizer, scheduler, x, y, generator, initial_epoch, epochs, callbacks=()):
    return pydl.fit(model, x, y, loss=nn.CrossEntropyLoss(), optimizer=optimizer,
                    scheduler=scheduler, epochs=epochs, initial_epoch=initial_epoch,
                    batch_size=7, generator=generator, callbacks=list(callbacks),
                    metrics=["accuracy"], verbose=0)


def main(argv):
    ckpt, out, epochs = argv[0], argv[1], int(argv[2])
    model, optimizer, scheduler, x, y = build()
    generator = np.random.default_rng()  # its state comes from the checkpoint
    state = pydl.load(ckpt, model, optimizer, scheduler, rng=generator)
    train(model, optimizer, scheduler, x, y, generator, state["epoch"], epochs)
    np.savez(out, **model.state_dict())


if __name__ == "__main__":
    main(sys.argv[1:])
