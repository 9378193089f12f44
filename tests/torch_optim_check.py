#!/usr/bin/python3
"""`cnnbench op sgd|adam` against torch.optim.

For each case: a float32 parameter and one float32 gradient per step saved
with np.save, `cnnbench op` run for all steps on one backend, and the
parameter and the optimizer's state (momentum_buffer; exp_avg, exp_avg_sq)
compared with what torch.optim.SGD / torch.optim.Adam (foreach=False: the
single-tensor code, torch 1.13) leave after the same steps, in float32 (the
arithmetic users run) and in float64 (the truth).

Tolerance: relative L2 ||got - ref|| / ||ref|| <= 1e-6, and every element
within 1e-6 * max|ref| (so no element hides in the norm). Why 1e-6: each
step is a short chain of float32 roundings per element, about 4 for SGD and
10 for Adam, each within u = 6e-8 of its value; cnnbench's naive backend
rounds once per stored value from double, its float32 backends round in
PyTorch's order, and five steps carry an element's error on damped by the
momentum and the betas. That is a few u (~2e-7) in the state and less in
the parameter, which moves by lr-sized steps, while a wrong rule (the bias
correction left out, the decay applied after the moments, the state read at
step 1) is off by 1e-3 or more.

A resumed case runs the first steps, then the rest from the state files
and --step they left, and must match the run of all steps bit for bit.

Exit: 0 all passed, 1 a failure, 77 torch or numpy missing, or the backend
unsupported or unusable here (cnnbench exit 3).
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
except ImportError as e:  # the ctest registration treats 77 as SKIPPED
    print(f"torch_optim_check: skipped, cannot import {e.name}", file=sys.stderr)
    sys.exit(77)

TOL = 1e-6
STEPS = 5


def rel_l2(got, ref):
    got, ref = got.astype(np.float64), ref.astype(np.float64)
    num = np.linalg.norm((got - ref).ravel())
    den = np.linalg.norm(ref.ravel())
    return num / den if den > 0 else num


def max_rel(got, ref):
    got, ref = got.astype(np.float64), ref.astype(np.float64)
    scale = np.abs(ref).max()
    return np.abs(got - ref).max() / scale if scale > 0 else np.abs(got).max()


def torch_steps(mode, hyper, param, grads, dtype):
    """The parameter and torch's per-parameter state after len(grads) steps."""
    p = torch.nn.Parameter(torch.tensor(param, dtype=dtype))
    if mode == "sgd":
        opt = torch.optim.SGD([p], foreach=False, **hyper)
    else:
        opt = torch.optim.Adam([p], foreach=False, **hyper)
    for g in grads:
        p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
    state = opt.state[p]
    names = ["momentum_buffer"] if mode == "sgd" else ["exp_avg", "exp_avg_sq"]
    out = {"param": p.detach().numpy()}
    for n in names:
        if state.get(n) is not None:
            out[n] = state[n].numpy()
    return out


def cnnbench_options(mode, hyper):
    opts = ["--lr", repr(hyper["lr"]), "--weight-decay", repr(hyper.get("weight_decay", 0.0))]
    if mode == "sgd":
        opts += ["--momentum", repr(hyper.get("momentum", 0.0))]
    else:
        b1, b2 = hyper.get("betas", (0.9, 0.999))
        opts += ["--beta1", repr(b1), "--beta2", repr(b2), "--eps", repr(hyper.get("eps", 1e-8))]
    return opts


def run_cnnbench(args, mode, options, files, work, label):
    """Run cnnbench op; returns (status, {name: array}) with status None on
    success, else ("SKIP"|"FAIL", reason)."""
    out = tempfile.mkdtemp(dir=work, prefix=label + ".")
    cmd = [args.cnnbench, "op", mode, "--backend", args.backend] + options + ["--out", out]
    for opt, path in files.items():
        cmd += ["--" + opt, path]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode == 3:
        return ("SKIP", p.stderr.strip()), None
    if p.returncode != 0:
        return ("FAIL", "exit %d: %s" % (p.returncode, p.stderr.strip())), None
    return None, {f[:-4]: np.load(os.path.join(out, f)) for f in os.listdir(out)
                  if f.endswith(".npy")}


def compare(got, ref, what):
    """Problems of got against ref (dicts of arrays), and the errors seen."""
    problems, errs = [], []
    if sorted(got) != sorted(ref):
        problems.append("%s: wrote %s, expected %s" % (what, sorted(got), sorted(ref)))
    for name in sorted(ref):
        if name not in got:
            continue
        g, r = got[name], ref[name]
        if g.dtype != np.float32 or g.shape != r.shape:
            problems.append("%s %s: %s %s, expected float32 %s" % (what, name, g.dtype, g.shape,
                                                                  r.shape))
            continue
        e, m = rel_l2(g, r), max_rel(g, r)
        errs.append("%s %.1e/%.1e" % (name, e, m))
        if not (e <= TOL and m <= TOL):
            problems.append("%s %s: relative L2 %.3g, max %.3g of max|ref| (tolerance %g)"
                            % (what, name, e, m, TOL))
    return problems, errs


def gradients(rng, shape, steps):
    """Uniform gradients with exact zeros and tiny values among them, so that
    Adam meets 0/eps and an eps that matters."""
    g = rng.uniform(-1, 1, (steps,) + shape).astype(np.float32)
    flat = g.reshape(steps, -1)
    flat[:, 0] = 0.0
    flat[:, 1] = 1e-6
    flat[:, 2] = -3e-7
    return g


def run_case(args, rng, work, mode, hyper, shape, flat_grads, resume):
    label = "%s %s %s%s" % (mode, shape, hyper, " resumed" if resume else "")
    param = rng.uniform(-1, 1, shape).astype(np.float32)
    grads = gradients(rng, shape, STEPS)
    d = tempfile.mkdtemp(dir=work)
    ppath, gpath = os.path.join(d, "param.npy"), os.path.join(d, "grad.npy")
    np.save(ppath, param)
    np.save(gpath, grads.reshape(STEPS, -1) if flat_grads else grads)
    options = cnnbench_options(mode, hyper)
    status, got = run_cnnbench(args, mode, options, {"param": ppath, "grad": gpath}, work, "all")
    if status:
        return status[0], label + "  " + status[1]
    problems, errs = [], []
    for dtype, what in ((torch.float32, "vs float32 torch"), (torch.float64, "vs float64 torch")):
        p, e = compare(got, torch_steps(mode, hyper, param, grads, dtype), what)
        problems += p
        errs += e if dtype == torch.float32 else []
    if resume:
        first = 2
        g1, g2 = os.path.join(d, "grad1.npy"), os.path.join(d, "grad2.npy")
        np.save(g1, grads[:first])
        np.save(g2, grads[first:])
        status, part = run_cnnbench(args, mode, options, {"param": ppath, "grad": g1}, work,
                                    "first")
        if status:
            return ("FAIL", "first %d steps: %s" % (first, status[1]))
        files = {"grad": g2}
        for name, a in part.items():  # param.npy and the state, as --param and its options
            path = os.path.join(d, "after_%s.npy" % name)
            np.save(path, a)
            files[name.replace("_", "-")] = path
        status, rest = run_cnnbench(args, mode, options + ["--step", str(first)], files, work,
                                    "rest")
        if status:
            return ("FAIL", "resumed at step %d: %s" % (first, status[1]))
        for name in sorted(got):
            if name not in rest or not np.array_equal(rest[name], got[name]):
                problems.append("resumed at step %d: %s differs from the run of all steps"
                                % (first, name))
    return ("FAIL" if problems else "PASS"), label + "  " + "  ".join(errs + problems)


def cases():
    # (mode, torch hyperparameters, parameter shape, grads as [steps][numel], resume)
    yield "sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}, (32, 3, 7), False, True
    yield "sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}, (8, 3, 5, 5), True, False
    yield "sgd", {"lr": 0.1}, (1000,), False, False
    yield "sgd", {"lr": 0.1, "weight_decay": 1e-2}, (64, 17), False, False
    yield "adam", {"lr": 1e-3}, (32, 3, 7), False, True
    yield "adam", {"lr": 1e-3, "weight_decay": 1e-2}, (8, 3, 5, 5), True, False
    yield "adam", {"lr": 1e-3, "weight_decay": 1e-2}, (64, 17), False, True
    yield "adam", {"lr": 0.1, "betas": (0.5, 0.9), "eps": 1e-3}, (1001,), False, False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cnnbench", required=True, help="path of the cnnbench executable")
    ap.add_argument("--backend", default="naive", help="backend to check (default naive)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    work = tempfile.mkdtemp(prefix="torch_optim_check.")
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    try:
        for mode, hyper, shape, flat, resume in cases():
            verdict, detail = run_case(args, rng, work, mode, hyper, shape, flat, resume)
            counts[verdict] += 1
            print("%-4s %s" % (verdict, detail))
    finally:
        if args.keep:
            print("work folder kept:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("torch_optim_check --backend %s: %d passed, %d failed, %d skipped; %d steps each, "
          "tolerance %g against torch %s" % (args.backend, counts["PASS"], counts["FAIL"],
                                             counts["SKIP"], STEPS, TOL, torch.__version__))
    if counts["FAIL"]:
        return 1
    return 0 if counts["PASS"] else 77


if __name__ == "__main__":
    sys.exit(main())
