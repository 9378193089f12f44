"""The seed document's Fashion-MNIST training program (section 4), corrected,
as the PyTorch peer of `cnnbench train --peer pytorch`.

What it keeps from the seed: the model (seed_models.py beside this file:
fashion_cnn or lenet5), CrossEntropyLoss, the optimizer (Adam or SGD with
momentum, torch.optim 1.13), batch, epochs, and the preprocessing in the
seed's order: RandomHorizontalFlip, Resize((S, S)) on the tensor (bilinear,
align_corners=False, no antialias: what cnnbench's CNN_RESIZE_TENSOR
computes), ToTensor's x / 255, Normalize((0.286,), (0.353,)); lenet5 at 28
skips the resize.

What it corrects:
  - "test accuracy" is measured on the test set after every epoch (the seed
    printed the last epoch's training accuracy under that name);
  - macro-F1 counts a true positive only where the prediction equals the
    true class (the seed set tp to every prediction of the class, so its
    precision was always 1); precision, recall and F1 are 0 where their
    denominator is, and the mean is over the classes that occur as a true
    or predicted class (sklearn's f1_score(average="macro")).

Where it differs on purpose, to do cnnbench's work: the four IDX .gz files
are read directly (gzip + numpy; no torchvision download), --limit N keeps
the first N training and N test images, and training drops the short last
batch of an epoch (drop_last=True) as cnnbench does. The shuffle and flips
come from torch's generator seeded with --seed: other orders than
cnnbench's, the same distribution.

Output: --out CSV with the columns of cnnbench's train.csv (backend
pytorch), written to OUT.tmp and renamed when complete. Exit 2: bad
arguments; 77: torch missing."""
import argparse
import gzip
import os
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from seed_models import FashionCNN, LeNet
except ImportError as e:
    print(f"pytorch_train: cannot import {e.name}", file=sys.stderr)
    sys.exit(77)

MODELS = {"fashion_cnn": (FashionCNN, 32), "lenet5": (LeNet, 28)}
MEAN, STD = 0.286, 0.353
CLASSES = 10


def read_idx(folder, name, ndim):
    """An unsigned-byte IDX file (gzip'd or plain) as a numpy array."""
    path = os.path.join(folder, name)
    opener = gzip.open if os.path.exists(path + ".gz") else open
    path = path + ".gz" if os.path.exists(path + ".gz") else path
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 + 4 * ndim or data[2] != 8 or data[3] != ndim:
        raise ValueError(f"{path}: not an unsigned-byte IDX file of {ndim} dimensions")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {body.size} bytes of data, the header says {np.prod(dims)}")
    return body.reshape(dims)


def load(folder, split, limit):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(folder, f"{prefix}-images-idx3-ubyte", 3)
    y = read_idx(folder, f"{prefix}-labels-idx1-ubyte", 1)
    if limit > 0:
        x, y = x[:limit], y[:limit]
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def prepare(x, size, flip=None):
    """uint8 N x 28 x 28 -> float N x 1 x S x S: flip, resize, /255, normalize."""
    t = x.unsqueeze(1).float() / 255.0
    if flip is not None:
        t = torch.where(flip.view(-1, 1, 1, 1), t.flip(-1), t)
    if t.shape[-1] != size or t.shape[-2] != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return (t - MEAN) / STD


def macro_f1(conf):
    """Per-class precision, recall, F1 and the macro-F1 of a confusion matrix
    (rows true class, columns predicted)."""
    tp = conf.diag().double()
    pred = conf.sum(0).double()  # TP + FP
    true = conf.sum(1).double()  # TP + FN
    p = torch.where(pred > 0, tp / pred.clamp(min=1), torch.zeros_like(tp))
    r = torch.where(true > 0, tp / true.clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(p + r > 0, 2 * p * r / (p + r).clamp(min=1e-300), torch.zeros_like(tp))
    present = (pred > 0) | (true > 0)
    return p, r, f1, (f1[present].mean().item() if present.any() else 0.0)


def evaluate(model, x, y, size, batch):
    model.eval()
    conf = torch.zeros(CLASSES, CLASSES, dtype=torch.int64)
    loss_sum = 0.0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = model(prepare(x[i:i + batch], size))
            yb = y[i:i + batch]
            loss_sum += F.cross_entropy(out.double(), yb, reduction="sum").item()
            pred = out.argmax(1)
            conf += torch.bincount(yb * CLASSES + pred, minlength=CLASSES * CLASSES).view(
                CLASSES, CLASSES)
    return conf, loss_sum / len(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--image-size", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.model not in MODELS:
        print(f"pytorch_train: model {a.model} is not one of the seed's: "
              f"{', '.join(MODELS)}", file=sys.stderr)
        return 2
    if a.epochs < 1 or a.batch < 1:
        print("pytorch_train: --epochs and --batch must be at least 1", file=sys.stderr)
        return 2
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    builder, usual = MODELS[a.model]
    size = a.image_size or usual
    try:
        xtr, ytr = load(a.data, "train", a.limit)
        xte, yte = load(a.data, "test", a.limit)
    except (OSError, ValueError) as e:
        print(f"pytorch_train: {e}", file=sys.stderr)
        return 2
    torch.manual_seed(a.seed)
    model = builder(CLASSES)
    if a.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum,
                              weight_decay=a.weight_decay)
    gen = torch.Generator().manual_seed(a.seed)
    criterion = nn.CrossEntropyLoss()
    nfull = len(ytr) // a.batch
    cols = ["backend", "epoch", "train_loss", "train_acc", "test_loss", "test_acc",
            "test_macro_f1", "epoch_s", "train_s", "eval_s", "images", "images_per_s",
            "data_wait_s", "data_wait_share", "step"]
    cols += [f"{k}_{c}" for k in ("precision", "recall", "f1") for c in range(CLASSES)]
    rows, step = [], 0
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(ytr), generator=gen)
        flips = torch.rand(len(ytr), generator=gen) < 0.5
        loss_sum, correct, wait = 0.0, 0, 0.0
        for b in range(nfull):
            tw = time.perf_counter()
            idx = order[b * a.batch:(b + 1) * a.batch]
            xb, yb = prepare(xtr[idx], size, flips[idx]), ytr[idx]
            wait += time.perf_counter() - tw
            out = model(xb)
            loss = criterion(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item()
            correct += (out.argmax(1) == yb).sum().item()
        train_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        conf, test_loss = evaluate(model, xte, yte, size, a.batch)
        p, r, f1, mf1 = macro_f1(conf)
        eval_s = time.perf_counter() - t1
        images = nfull * a.batch
        row = ["pytorch", epoch + 1, loss_sum / nfull, correct / images, test_loss,
               conf.diag().sum().item() / len(yte), mf1, time.perf_counter() - t0, train_s,
               eval_s, images, images / train_s, wait, wait / train_s, step]
        row += p.tolist() + r.tolist() + f1.tolist()
        rows.append(row)
        print(f"pytorch epoch {epoch + 1}/{a.epochs}: train loss {row[2]:.4f} acc {row[3]:.4f} "
              f"| test loss {row[4]:.4f} acc {row[5]:.4f} macro-F1 {mf1:.4f} | {row[7]:.1f} s "
              f"({images / train_s:.0f} img/s)", flush=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(",".join(cols) + "\n")
        for row in rows:
            f.write(",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
