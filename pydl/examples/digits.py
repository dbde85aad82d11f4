"""Handwritten digits: train a network on scikit-learn's 8x8 digits with pydl.fit.

Splits the 1,797 images into train and test sets (stratified), standardises the pixels
with statistics of the training set, trains with a progress bar and a validation
split, then reports test accuracy, wall time and throughput and writes learning
curves to a PNG.

Run: ``python -m pydl.examples.digits [--epochs 20] [--out curves.png]``
(needs scikit-learn for the data and matplotlib for the plot). Data-parallel on two
processes: ``mpiexec -n 2 python -m pydl.examples.digits --distributed`` (needs
``pydl[mpi]``); the global batch stays ``--batch-size``, rank 0 prints and plots.
"""

import argparse
import time

import numpy as np

import pydl
from pydl import nn
from pydl.data import StandardScaler, load_digits, random_shift, train_test_split
from pydl.examples import digits_cnn
from pydl.optim import SGD
from pydl.optim.lr_scheduler import CosineAnnealingLR


def build_model(seed=0):
    """The network: the LeNet-style CNN of :mod:`pydl.examples.digits_cnn`
    (input (N, 1, 8, 8), logits (N, 10))."""
    return digits_cnn.build_model(seed)


def load_data(seed=0, test_size=0.25):
    """(x_train, x_test, y_train, y_test), images (N, 1, 8, 8) standardised per pixel."""
    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size,
                                                        stratify=y, seed=seed)
    scaler = StandardScaler().fit(x_train)  # fit on train only, apply to both
    return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


def main(argv=None):
    """Train and evaluate; returns a dict of the results (for tests and scripts)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="digits_learning_curve.png",
                        help="learning-curve PNG (default: %(default)s in the current "
                             "directory)")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--export", metavar="PATH",
                        help="write the trained model as ONNX (input (N, 1, 8, 8) float32)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the ranks of mpiexec (pydl.distributed)")
    args = parser.parse_args(argv)
    rank, ranks = 0, 1
    if args.distributed:
        import pydl.distributed as dist
        rank = dist.init()
        ranks = dist.world_size()
    say = print if rank == 0 else (lambda *a, **k: None)

    x_train, x_test, y_train, y_test = load_data(args.seed)
    model = build_model(args.seed)
    if ranks > 1:
        # each rank its own dropout masks (the weights come from rank 0 anyway): with
        # one seed everywhere every rank would drop the same units of its samples
        pydl.manual_seed(args.seed + 7919 * rank)
    optimizer = SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                    weight_decay=1e-4)
    say(f"digits: {len(x_train)} training and {len(x_test)} test images, "
        f"{pydl.get_num_threads()} thread(s)" + (f" x {ranks} ranks" if ranks > 1 else ""))
    start = time.perf_counter()
    shifts = np.random.default_rng(args.seed + rank)   # each rank its own shifts
    history = pydl.fit(model, x_train, y_train, loss=nn.CrossEntropyLoss(),
                       optimizer=optimizer, epochs=args.epochs, batch_size=args.batch_size,
                       scheduler=CosineAnnealingLR(optimizer, T_max=args.epochs),
                       augment=lambda x: random_shift(x, max_shift=1, generator=shifts),
                       validation_split=0.1, metrics=["accuracy"], verbose=args.verbose,
                       seed=args.seed)
    wall = time.perf_counter() - start
    test = pydl.evaluate(model, x_test, y_test, loss=nn.CrossEntropyLoss(),
                         metrics=["accuracy"])
    trained = int(len(x_train) * 0.9) * len(history.epoch)  # validation split held out
    results = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "train_accuracy": history.history["accuracy"][-1],
        "val_accuracy": history.history["val_accuracy"][-1],
        "wall_time_s": wall,
        "samples_per_s": trained / wall,
        "epochs": len(history.epoch),
        "history": history,
        "plot": None,
        "onnx": None,
        "onnx_test_accuracy": None,
    }
    say(f"test accuracy {test['accuracy']:.2%} (loss {test['loss']:.4f}) after "
        f"{results['epochs']} epochs in {wall:.2f} s, "
        f"{results['samples_per_s']:,.0f} samples/s (validation included)")
    if args.export and rank == 0:      # data-parallel: the weights are the same everywhere
        export_onnx(model, x_test, y_test, args.export, results)
    if not args.no_plot:
        results["plot"] = history.plot(args.out, title="pydl: digits")   # rank 0 only
        say(f"learning curves written to {results['plot']}")
    return results


def export_onnx(model, x_test, y_test, path, results):
    """Write ``model`` to ``path`` as ONNX; with onnxruntime installed, serve the file
    on the test set and record its accuracy."""
    from pydl.onnx import export
    export(model, x_test[:1], path)
    results["onnx"] = path
    print(f"ONNX model written to {path}")
    try:
        import onnxruntime as ort
    except ImportError:
        return
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": x_test.astype(np.float32)})[0]
    results["onnx_test_accuracy"] = float(np.mean(logits.argmax(1) == y_test))
    print(f"onnxruntime on {path}: test accuracy {results['onnx_test_accuracy']:.2%}")


if __name__ == "__main__":
    main()
