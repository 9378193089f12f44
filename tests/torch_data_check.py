#!/usr/bin/python3
"""The data path's preprocessing against torchvision (Debian's python3-torchvision).

tests/data_dump (C) writes the first images of a folder through
cnn_transform_image; this script computes the same with torchvision and
requires every value within 1e-6 (it also reports how many are bit-exact):

  tensor mode: Normalize(Resize(size, antialias=False)(hflip?(ToTensor(pil))))
               Resize on the float tensor, as the brief for `cnnbench train` asks;
  pil mode:    Compose([RandomHorizontalFlip(p=0 or 1), Resize(size), ToTensor(),
               Normalize]) on the PIL image, exactly the seed's transform_train.

Images: a synthetic 28x28 set and a 9x13 one written here (gzip'd, plain), at
sizes 32x32 (the seed's CNN), 28x28 (lenet5: no resize), 20x20 (a downscale)
and 17x40; then, when Debian's dataset-fashion-mnist is installed, the first
images of its train and test files (labels compared too). Also the class names
against torchvision.datasets.FashionMNIST.classes. Exit 77 when torch or
torchvision is missing.
"""
import argparse
import gzip
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torchvision
    import torchvision.transforms as T
    import torchvision.transforms.functional as TF
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e}")
    sys.exit(77)

MEAN, STD = 0.286, 0.353
REAL = "/usr/share/datasets/fashion-mnist"
TOL = 1e-6


def write_idx(path, arr, gz):
    header = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + b"".join(
        struct.pack(">I", d) for d in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def synthetic(folder, n, h, w, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, h, w), dtype=np.uint8)
    images[0] = np.arange(h * w).reshape(h, w) % 256  # a ramp: every edge case of the weights
    images[1] = 255  # saturated: Pillow's clipping
    labels = (np.arange(n) % 10).astype(np.uint8)
    os.makedirs(folder)
    write_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"), images, True)
    write_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"), labels, True)
    write_idx(os.path.join(folder, "t10k-images-idx3-ubyte"), images, False)
    write_idx(os.path.join(folder, "t10k-labels-idx1-ubyte"), labels, False)
    return images, labels


def torch_expected(images, size, mode, flip):
    out = []
    for img in images:
        pil = Image.fromarray(img, mode="L")  # what datasets.FashionMNIST hands the transforms
        if mode == "pil":
            tf = T.Compose([T.RandomHorizontalFlip(p=1.0 if flip else 0.0), T.Resize(size),
                            T.ToTensor(), T.Normalize((MEAN,), (STD,))])
            x = tf(pil)
        else:
            x = T.ToTensor()(pil)
            if flip:
                x = TF.hflip(x)
            x = T.Resize(size, antialias=False)(x)
            x = T.Normalize((MEAN,), (STD,))(x)
        out.append(x.numpy())
    return np.stack(out)


def run_dump(dump, folder, split, count, size, mode, flip, out):
    cmd = [dump, folder, split, str(count), str(size[0]), str(size[1]), mode, str(int(flip)), out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
    return np.load(out + ".x.npy"), np.load(out + ".y.npy")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True, help="the data_dump helper")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    failures = 0
    checks = 0

    classes = subprocess.run([args.dump, "--classes"], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    want = torchvision.datasets.FashionMNIST.classes
    checks += 1
    if classes != want:
        print(f"FAIL class names: {classes} != torchvision's {want}")
        failures += 1

    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        a = os.path.join(tmp, "a")
        images, labels = synthetic(a, 6, 28, 28, 1)
        for size in [(32, 32), (28, 28), (20, 20), (17, 40)]:
            cases.append((a, "train", images, labels, size))
        b = os.path.join(tmp, "b")
        images_b, labels_b = synthetic(b, 4, 9, 13, 2)
        cases.append((b, "test", images_b, labels_b, (32, 32)))
        cases.append((b, "test", images_b, labels_b, (5, 7)))
        if os.path.exists(os.path.join(REAL, "train-images-idx3-ubyte.gz")):
            for split, prefix in [("train", "train"), ("test", "t10k")]:
                ri = read_idx(os.path.join(REAL, f"{prefix}-images-idx3-ubyte.gz"))[:8]
                rl = read_idx(os.path.join(REAL, f"{prefix}-labels-idx1-ubyte.gz"))[:8]
                cases.append((REAL, split, ri, rl, (32, 32)))
        else:
            print(f"(no real dataset in {REAL}: synthetic images only)")

        for k, (folder, split, imgs, lbls, size) in enumerate(cases):
            for mode in ["tensor", "pil"]:
                for flip in [False, True]:
                    out = os.path.join(tmp, f"out{k}_{mode}_{int(flip)}")
                    got, got_y = run_dump(args.dump, folder, split, len(imgs), size, mode, flip,
                                          out)
                    exp = torch_expected(imgs, size, mode, flip)
                    checks += 2
                    name = f"{folder} {split} {imgs.shape[1]}x{imgs.shape[2]}->" \
                           f"{size[0]}x{size[1]} {mode} flip={int(flip)}"
                    if got.shape != exp.shape:
                        print(f"FAIL {name}: shape {got.shape}, torch {exp.shape}")
                        failures += 1
                        continue
                    diff = float(np.abs(got.astype(np.float64) - exp).max())
                    exact = float((got == exp).mean())
                    print(f"{name}: max |diff| {diff:.3g}, {100 * exact:.2f}% bit-exact")
                    if not diff <= TOL:
                        print(f"FAIL {name}: max |diff| {diff} > {TOL}")
                        failures += 1
                    if not np.array_equal(got_y, lbls.astype(np.int32)):
                        print(f"FAIL {name}: labels {got_y} != {lbls}")
                        failures += 1

    print(f"torch_data_check: {checks} checks, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
