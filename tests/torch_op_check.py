#!/usr/bin/python3
"""`cnnbench op` against PyTorch.

For each case: random float32 inputs saved with np.save, `cnnbench op` run on
one backend, and y and every gradient compared with torch.nn.functional
computed in float64 from the same float32 inputs (float64 is the truth).

Error measure: relative L2, ||got - ref||_2 / ||ref||_2. The default
tolerance, 1e-5, suits the naive backend: it accumulates in double, so its
only error is the final rounding to float32 (about 6e-8 relative); a
float32-accumulating backend (im2col, Winograd, cuDNN) may need --tol. A
result whose reference is all zeros is compared by its own norm instead.

Exit: 0 all run cases passed, 1 a failure, 77 torch or numpy missing, or
every case unsupported by the backend (cnnbench exit 3: reported SKIPPED).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the ctest registration treats 77 as SKIPPED
    print(f"torch_op_check: skipped, cannot import {e.name}", file=sys.stderr)
    sys.exit(77)


def rel_l2(got, ref):
    got = got.astype(np.float64)
    num = np.linalg.norm((got - ref).ravel())
    den = np.linalg.norm(ref.ravel())
    return num / den if den > 0 else num


class Case:
    """One `cnnbench op` call: inputs (name -> float32 array), options, and
    the float64 torch results to compare (file stem -> array)."""

    def __init__(self, op, label, inputs, options, expected):
        self.op, self.label = op, label
        self.inputs, self.options, self.expected = inputs, options, expected


def t64(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def grads(y, dy, **leaves):
    """y.backward(dy) and the gradients of the named leaves as numpy."""
    y.backward(t64(dy, grad=False))
    return {k: v.grad.numpy() for k, v in leaves.items() if v is not None}


def conv_case(rng, n, c, h, w, k, r, s, stride, pad, bias):
    x = rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32)
    wt = rng.uniform(-1, 1, (k, c, r, s)).astype(np.float32)
    b = rng.uniform(-1, 1, (k,)).astype(np.float32) if bias else None
    tx, tw = t64(x), t64(wt)
    tb = t64(b) if bias else None
    y = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
    dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
    g = grads(y, dy, dx=tx, dw=tw, db=tb)
    inputs = {"x": x, "w": wt, "dy": dy}
    opts = ["--stride", "%d,%d" % stride, "--pad", "%d,%d" % pad]
    if bias:
        inputs["bias"] = b
    label = "x%s w%s stride%s pad%s%s" % (x.shape, wt.shape, stride, pad, " bias" if bias else "")
    return Case("conv2d", label, inputs, opts, {"y": y.detach().numpy(), **g})


def pool_case(rng, mode, shape, kernel, stride, pad, ceil):
    x = rng.uniform(-1, 1, shape).astype(np.float32)
    tx = t64(x)
    st = stride if stride else kernel  # PyTorch's default stride is the kernel
    if mode == "max":
        y = F.max_pool2d(tx, kernel, st, pad, ceil_mode=ceil)
    else:
        y = F.avg_pool2d(tx, kernel, st, pad, ceil_mode=ceil, count_include_pad=True)
    dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
    g = grads(y, dy, dx=tx)
    opts = ["--kernel", "%d,%d" % kernel, "--pad", "%d,%d" % pad]
    if stride:
        opts += ["--stride", "%d,%d" % stride]
    if ceil:
        opts.append("--ceil")
    label = "x%s kernel%s stride%s pad%s%s" % (shape, kernel, stride or "=kernel", pad,
                                               " ceil" if ceil else "")
    return Case(mode + "pool2d", label, {"x": x, "dy": dy}, opts, {"y": y.detach().numpy(), **g})


def bn_case(rng, shape, eps, momentum):
    c = shape[1]
    x = rng.uniform(-2, 3, shape).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, (c,)).astype(np.float32)
    beta = rng.uniform(-1, 1, (c,)).astype(np.float32)
    tx, tg, tb = t64(x), t64(gamma), t64(beta)
    rm = torch.zeros(c, dtype=torch.float64)
    rv = torch.ones(c, dtype=torch.float64)
    y = F.batch_norm(tx, rm, rv, tg, tb, training=True, momentum=momentum, eps=eps)
    dy = rng.uniform(-1, 1, shape).astype(np.float32)
    g = grads(y, dy, dx=tx, dgamma=tg, dbeta=tb)
    exp = {"y": y.detach().numpy(), "running_mean": rm.numpy(), "running_var": rv.numpy(), **g}
    opts = ["--eps", repr(eps), "--momentum", repr(momentum)]
    inputs = {"x": x, "gamma": gamma, "beta": beta, "dy": dy}
    return Case("batchnorm2d", "x%s eps %g momentum %g" % (shape, eps, momentum), inputs, opts,
                exp)


def linear_case(rng, n, fin, fout, bias):
    x = rng.uniform(-1, 1, (n, fin)).astype(np.float32)
    wt = rng.uniform(-1, 1, (fout, fin)).astype(np.float32)
    b = rng.uniform(-1, 1, (fout,)).astype(np.float32) if bias else None
    tx, tw = t64(x), t64(wt)
    tb = t64(b) if bias else None
    y = F.linear(tx, tw, tb)
    dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
    g = grads(y, dy, dx=tx, dw=tw, db=tb)
    inputs = {"x": x, "w": wt, "dy": dy}
    if bias:
        inputs["bias"] = b
    label = "x%s w%s%s" % (x.shape, wt.shape, " bias" if bias else "")
    return Case("linear", label, inputs, [], {"y": y.detach().numpy(), **g})


def adapool_case(rng, shape, out):
    x = rng.uniform(-1, 1, shape).astype(np.float32)
    tx = t64(x)
    y = F.adaptive_avg_pool2d(tx, out)
    dy = rng.uniform(-1, 1, y.shape).astype(np.float32)
    g = grads(y, dy, dx=tx)
    return Case("adaptive_avgpool2d", "x%s output%s" % (shape, out), {"x": x, "dy": dy},
                ["--output", "%d,%d" % out], {"y": y.detach().numpy(), **g})


def act_case(rng, op, shape, lo, hi):
    x = rng.uniform(lo, hi, shape).astype(np.float32)
    tx = t64(x)
    y = F.relu(tx) if op == "relu" else torch.sigmoid(tx)
    dy = rng.uniform(-1, 1, shape).astype(np.float32)
    g = grads(y, dy, dx=tx)
    return Case(op, "x%s" % (shape,), {"x": x, "dy": dy}, [], {"y": y.detach().numpy(), **g})


def cases(rng):
    yield conv_case(rng, 2, 3, 8, 8, 4, 3, 3, (1, 1), (1, 1), True)
    yield conv_case(rng, 2, 3, 9, 7, 5, 3, 2, (2, 1), (1, 0), False)
    yield conv_case(rng, 1, 4, 10, 10, 6, 5, 5, (2, 2), (2, 2), True)
    yield conv_case(rng, 3, 2, 7, 9, 3, 1, 1, (3, 3), (0, 0), True)
    yield conv_case(rng, 2, 3, 6, 6, 2, 6, 6, (1, 1), (0, 0), True)
    yield conv_case(rng, 2, 1, 11, 8, 3, 4, 3, (3, 2), (2, 1), False)
    yield conv_case(rng, 1, 8, 5, 5, 16, 3, 3, (1, 1), (2, 2), True)
    for mode in ("max", "avg"):
        yield pool_case(rng, mode, (2, 3, 8, 8), (2, 2), None, (0, 0), False)
        yield pool_case(rng, mode, (2, 3, 9, 9), (3, 3), (2, 2), (1, 1), False)
        yield pool_case(rng, mode, (2, 3, 8, 8), (3, 3), (2, 2), (1, 1), True)
        yield pool_case(rng, mode, (1, 2, 7, 10), (2, 3), (2, 2), (1, 1), True)
        yield pool_case(rng, mode, (2, 2, 6, 7), (3, 3), None, (0, 0), True)
        yield pool_case(rng, mode, (1, 3, 5, 9), (3, 2), (1, 3), (1, 0), False)
    yield bn_case(rng, (4, 3, 5, 5), 1e-5, 0.1)
    yield bn_case(rng, (2, 5, 3, 4), 1e-3, 0.3)
    yield bn_case(rng, (8, 2, 1, 1), 1e-5, 1.0)
    yield linear_case(rng, 5, 7, 3, True)
    yield linear_case(rng, 1, 16, 10, False)
    yield linear_case(rng, 8, 100, 20, True)
    yield adapool_case(rng, (2, 3, 7, 5), (3, 2))
    yield adapool_case(rng, (2, 3, 8, 8), (1, 1))
    yield adapool_case(rng, (1, 2, 5, 7), (5, 7))
    yield adapool_case(rng, (1, 2, 6, 9), (4, 4))
    yield act_case(rng, "relu", (2, 3, 4, 5), -1, 1)
    yield act_case(rng, "relu", (17,), -1, 1)
    yield act_case(rng, "sigmoid", (2, 3, 4, 5), -6, 6)
    yield act_case(rng, "sigmoid", (3, 7), -1, 1)


def run_case(args, case, work):
    d = tempfile.mkdtemp(dir=work)
    cmd = [args.cnnbench, "op", case.op, "--backend", args.backend]
    for name, a in case.inputs.items():
        path = os.path.join(d, name + ".npy")
        np.save(path, a)
        cmd += ["--" + name, path]
    out = os.path.join(d, "out")
    cmd += case.options + ["--out", out]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode == 3:
        return "SKIP", p.stderr.strip()
    if p.returncode != 0:
        return "FAIL", "exit %d: %s" % (p.returncode, p.stderr.strip())
    errs, problems = [], []
    written = sorted(f[:-4] for f in os.listdir(out) if f.endswith(".npy"))
    if written != sorted(case.expected):
        problems.append("wrote %s, expected %s" % (written, sorted(case.expected)))
    for name, ref in case.expected.items():
        path = os.path.join(out, name + ".npy")
        if not os.path.exists(path):
            continue
        got = np.load(path)
        if got.dtype != np.float32 or got.shape != ref.shape:
            problems.append("%s: %s %s, expected float32 %s" % (name, got.dtype, got.shape,
                                                               ref.shape))
            continue
        e = rel_l2(got, ref)
        errs.append("%s %.1e" % (name, e))
        if not e <= args.tol:
            problems.append("%s: relative L2 error %.3g > %g" % (name, e, args.tol))
    return ("FAIL" if problems else "PASS"), "  ".join(errs + problems)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cnnbench", required=True, help="path of the cnnbench executable")
    ap.add_argument("--backend", default="naive", help="backend to check (default naive)")
    ap.add_argument("--tol", type=float, default=1e-5, help="relative L2 tolerance (1e-5)")
    ap.add_argument("--threads", type=int, default=0, help="--threads for cnnbench")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    work = tempfile.mkdtemp(prefix="torch_op_check.")
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    try:
        for case in cases(rng):
            verdict, detail = run_case(args, case, work)
            counts[verdict] += 1
            print("%-4s %-18s %-50s %s" % (verdict, case.op, case.label, detail))
    finally:
        if args.keep:
            print("work folder kept:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("torch_op_check --backend %s: %d passed, %d failed, %d skipped (unsupported); "
          "tolerance %g relative L2 against float64 torch %s"
          % (args.backend, counts["PASS"], counts["FAIL"], counts["SKIP"], args.tol,
             torch.__version__))
    if counts["FAIL"]:
        return 1
    return 0 if counts["PASS"] else 77


if __name__ == "__main__":
    sys.exit(main())
