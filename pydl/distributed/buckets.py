"""Gradient buckets: parameters' gradients packed into one flat buffer each, reduced
with one non-blocking MPI collective and unpacked as the average over ranks.

Each buffer ends with one flag per parameter (1 where this rank has a gradient), so
after the sum every rank knows whether any rank had one: a parameter no rank used
keeps ``grad = None`` as in a single process.
"""

import numpy as np

from .collectives import sum_rows

__all__ = ["Bucket", "make_buckets"]


class Bucket:
    """Parameters of one dtype whose gradients are reduced together."""

    def __init__(self, params, comm, deterministic):
        self.params = params
        self.dtype = params[0].data.dtype
        sizes = [p.data.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.numel = int(self.offsets[-1])
        self.comm = comm
        self.world = comm.Get_size()
        self.deterministic = deterministic
        self.buffer = np.zeros(self.numel + len(params), self.dtype)
        self.gathered = (np.zeros((self.world, self.buffer.size), self.dtype)
                         if deterministic else None)
        self.request = None

    def nbytes(self):
        return self.buffer.nbytes

    def launch(self, MPI):
        """Pack the gradients and start their reduction (Iallreduce, or Iallgather for
        a rank-ordered sum)."""
        buf, offs, n = self.buffer, self.offsets, self.numel
        for j, p in enumerate(self.params):
            if p.grad is None:
                buf[offs[j]:offs[j + 1]] = 0
                buf[n + j] = 0
            else:
                buf[offs[j]:offs[j + 1]] = p.grad.reshape(-1)
                buf[n + j] = 1
        if self.deterministic:
            self.request = self.comm.Iallgather(buf, self.gathered)
        else:
            self.request = self.comm.Iallreduce(MPI.IN_PLACE, buf, op=MPI.SUM)

    def finish(self):
        """Wait for the reduction and write the average into each ``param.grad``."""
        self.request.Wait()
        self.request = None
        total = sum_rows(self.gathered) if self.deterministic else self.buffer
        n, offs = self.numel, self.offsets
        average = total[:n]
        average /= self.world
        for j, p in enumerate(self.params):
            if total[n + j] == 0:
                p.grad = None
                continue
            value = average[offs[j]:offs[j + 1]].reshape(p.data.shape)
            if p.grad is None:
                p.grad = value.copy()
            else:
                np.copyto(p.grad, value)


def make_buckets(params, cap_bytes, comm, deterministic):
    """Consecutive runs of ``params`` (already in reduction order) of one dtype and at
    most ``cap_bytes`` of gradient each (a bigger parameter gets a bucket alone)."""
    buckets, current, size = [], [], 0
    for p in params:
        nbytes = p.data.nbytes
        if current and (size + nbytes > cap_bytes or p.data.dtype != current[0].data.dtype):
            buckets.append(Bucket(current, comm, deterministic))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(Bucket(current, comm, deterministic))
    return buckets
