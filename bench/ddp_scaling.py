"""Data-parallel training on one machine: R ranks x 1 thread vs 1 rank x R threads,
the time spent waiting on gradient communication, and backward with and without
overlap; plus the loopback latency and bandwidth of MPI_Allreduce.

    python bench/ddp_scaling.py [--ranks 2] [--rounds 3] [--steps 8]

The driver launches ``mpiexec -n 1`` (1 thread, then R OpenMP threads) and
``mpiexec -n R`` (one thread each) alternately, round after round, so that a shared machine's changing
load hits both alike, and prints medians over the rounds. Models: the digits CNN
(pydl.examples.digits_cnn, global batch 64 of 1x8x8) and ResNet-20 (pydl.models.ResNet
with 3 basic blocks per stage, global batch 32 of 3x32x32), float32, SGD with
momentum. Needs mpi4py and mpiexec (pip install "pydl[mpi]" mpich).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

# global batch, sample shape, bucket_cap_mb (about a quarter of the gradients)
CASES = {"digits_cnn": (64, (1, 8, 8), 0.06), "resnet20": (32, (3, 32, 32), 0.25)}


def build(name):
    import pydl
    if name == "digits_cnn":
        from pydl.examples.digits_cnn import build_model
        return build_model(0)
    pydl.manual_seed(0)
    return pydl.models.ResNet("basic", layers=(3, 3, 3))


def worker(steps, overlap_modes, comm_only=False):
    from mpi4py import MPI

    import pydl
    import pydl.distributed as dist
    from pydl import nn
    from pydl.optim import SGD
    rank = dist.init()
    ranks = dist.world_size()
    comm = dist.get_comm()
    results = {"ranks": ranks, "threads": pydl.get_num_threads()}
    for name, (batch, shape, cap) in ({} if comm_only else CASES).items():
        rng = np.random.default_rng(rank)
        x = rng.standard_normal((batch // ranks,) + shape).astype(np.float32)
        y = rng.integers(0, 10, batch // ranks)
        loss_fn = nn.CrossEntropyLoss()
        for overlap in overlap_modes:
            model = dist.DistributedDataParallel(build(name), bucket_cap_mb=cap,
                                                 overlap=overlap)
            opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
            times, waits, backs = [], [], []
            for step in range(steps + 2):
                comm.Barrier()
                t0 = time.perf_counter()
                model.zero_grad()
                loss_fn(model(x), y)
                w0 = model.wait_seconds
                t1 = time.perf_counter()
                model.backward(loss_fn.backward())
                t2 = time.perf_counter()
                opt.step()
                t3 = time.perf_counter()
                if step >= 2:           # the first step learns the graph
                    times.append(t3 - t0)
                    waits.append(model.wait_seconds - w0)
                    backs.append(t2 - t1)
            key = f"{name}/{'overlap' if overlap else 'no_overlap'}"
            # the slowest rank sets the pace
            step_t = comm.allreduce(statistics.median(times), op=MPI.MAX)
            wait_t = comm.allreduce(statistics.median(waits), op=MPI.MAX)
            back_t = comm.allreduce(statistics.median(backs), op=MPI.MAX)
            grads = sum(p.data.nbytes for p in model.parameters())
            results[key] = {"step_s": step_t, "wait_s": wait_t, "backward_s": back_t,
                            "buckets": len(model.buckets), "grad_bytes": grads,
                            "overlapped": model.buckets_overlapped}
    if ranks > 1:
        results["allreduce"] = allreduce_curve(comm, MPI)
    if rank == 0:
        print("RESULT " + json.dumps(results), flush=True)


def allreduce_curve(comm, MPI, repeats=20):
    """Median time per message size (float32 sum) of MPI_Allreduce and of what
    ``deterministic=True`` does instead (Allgather, then a sum in rank order):
    {nbytes: (allreduce s, allgather + sum s)}."""
    from pydl.distributed.collectives import sum_rows
    out = {}
    for nbytes in (8, 1024, 65536, 1 << 20, 4 << 20, 16 << 20):
        buf = np.ones(nbytes // 4, np.float32)
        gathered = np.empty((comm.Get_size(), buf.size), np.float32)
        ts, tg = [], []
        for _ in range(repeats):
            comm.Barrier()
            t = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            ts.append(time.perf_counter() - t)
            comm.Barrier()
            t = time.perf_counter()
            comm.Allgather(buf, gathered)
            sum_rows(gathered)
            tg.append(time.perf_counter() - t)
        out[nbytes] = (comm.allreduce(statistics.median(ts), op=MPI.MAX),
                       comm.allreduce(statistics.median(tg), op=MPI.MAX))
    return out


def launch(ranks, threads, steps, overlap_modes, comm_only=False):
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = mpiexec if os.access(mpiexec, os.X_OK) else shutil.which("mpiexec")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([mpiexec, "-n", str(ranks), sys.executable, __file__, "--worker",
                          "--steps", str(steps), "--overlap", overlap_modes]
                         + (["--comm-only"] if comm_only else []),
                         env=env, capture_output=True, text=True, check=True, timeout=900)
    line = next(li for li in out.stdout.splitlines() if li.startswith("RESULT "))
    return json.loads(line[7:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--overlap", default="1,0")
    parser.add_argument("--comm-only", action="store_true",
                        help="only the Allreduce / Allgather curve, at 2 .. --ranks ranks")
    args = parser.parse_args()
    modes = [bool(int(m)) for m in args.overlap.split(",")]
    if args.worker:
        return worker(args.steps, modes, args.comm_only)
    if args.comm_only:     # the communication curve alone, at each rank count
        for ranks in range(2, args.ranks + 1):
            print(f"{ranks} ranks:")
            print_curve([launch(ranks, 1, 0, "1", comm_only=True)
                         for _ in range(args.rounds)])
        return
    runs = {"single": [], "one": [], "ddp": []}
    for _ in range(args.rounds):
        runs["one"].append(launch(1, 1, args.steps, "1"))
        runs["single"].append(launch(1, args.ranks, args.steps, "1"))
        runs["ddp"].append(launch(args.ranks, 1, args.steps, args.overlap))
    med = lambda rs, k, f: statistics.median(r[k][f] for r in rs)
    print(f"{args.rounds} rounds, {args.steps} timed steps each, medians")
    for name in CASES:
        one = med(runs["one"], f"{name}/overlap", "step_s")
        many = med(runs["single"], f"{name}/overlap", "step_s")
        print(f"{name}: 1 rank x 1 thread {one * 1e3:.1f} ms/step, 1 rank x {args.ranks} "
              f"threads {many * 1e3:.1f} ms/step")
        for mode in ("overlap", "no_overlap"):
            key = f"{name}/{mode}"
            if key not in runs["ddp"][0]:
                continue
            r0 = runs["ddp"][0][key]
            print(f"  {args.ranks} ranks x 1 thread, {mode}: "
                  f"{med(runs['ddp'], key, 'step_s') * 1e3:.1f} ms/step, backward "
                  f"{med(runs['ddp'], key, 'backward_s') * 1e3:.1f} ms, waiting "
                  f"{med(runs['ddp'], key, 'wait_s') * 1e3:.2f} ms "
                  f"({r0['buckets']} buckets, {r0['grad_bytes'] / 2**20:.2f} MiB of "
                  f"gradients, {r0['overlapped']} started during backward)")
    print_curve(runs["ddp"])


def print_curve(runs):
    print("on loopback (float32 sum, median): MPI_Allreduce | Allgather + rank-order sum "
          "(deterministic=True)")
    for nbytes in runs[0]["allreduce"]:
        t, g = (statistics.median(r["allreduce"][nbytes][i] for r in runs) for i in (0, 1))
        print(f"  {int(nbytes):>9} B: {t * 1e6:9.1f} us ({int(nbytes) / t / 1e9:.2f} GB/s)"
              f" | {g * 1e6:9.1f} us ({g / t:.1f}x)")


if __name__ == "__main__":
    main()
