#!/usr/bin/python3
"""PyTorch timed beside cnnbench: the peer `cnnbench bench --peer pytorch` runs
(harness/peer.c). Needs torch and torchvision; cnnbench itself never does.

    pytorch_peer.py --models LIST [--batch N] [--image-size S] [--classes K]
                    [--modes infer,train_step] [--threads T] [--repetitions R] [--paced]
                    --out FILE
    pytorch_peer.py --layers CASES.csv [--threads T] [--repetitions R] [--min-time S] --out FILE

Models are cnnbench's (`cnnbench models`), their parameter counts checked
(a mismatch exits 1): fashion_cnn and lenet5 from seed_models.py here,
torchvision's alexnet, vgg16 (no batch norm), googlenet (no aux heads, no
input transform), resnet18. 0 for batch, image size, classes: the model's
bench default, usual input, own classes. Input standard normal, labels
i % classes, seed 0. One warm-up step, then R timed steps (perf_counter) of
  infer       model.eval(), forward under torch.no_grad()
  train_step  model.train(), every parameter's .grad set to None, forward,
              CrossEntropyLoss (mean), backward into the .grads (no optimizer)
With --paced each timed step waits for the harness (cnnbench bench --models,
which interleaves the peer's steps with its own): after a mode's warm-up the
script writes "ready MODEL MODE\n" to fd 3 (a socket), then per step reads
"step\n" from it, takes the step and writes "done\n"; the CSV is as without.

Layers: CASES.csv has a header row naming its columns (any order; those with
* may be left out); blank lines and # lines are skipped; no quoting.
  id         the case's name, echoed in the output (no commas)
  op         conv2d, maxpool2d, avgpool2d, adaptive_avgpool2d, batchnorm2d,
             linear, relu, sigmoid, dropout, add, concat, softmax_xent
  pass       fwd, fwd_infer (batchnorm2d), bwd_data, bwd_weight (conv2d,
             linear), bwd_bias (conv2d)
  n c h w k r s p q stride_h stride_w pad_h pad_w
             as results/README.md's "Dimension columns", empty where the op
             has none; p, q, if given, must be what the others make
  bias* 0/1 (default 1), ceil_mode* 0/1 (pooling, default 0), parts* (concat:
  the inputs' channels '+'-joined), dropout_p* (default 0.5), bn_global* (1:
  batchnorm2d's bwd_data is the inference form's; default 0)
What a call times (tensors made beforehand; each call allocates its outputs):
  conv2d     fwd F.conv2d; bwd_data torch.nn.grad.conv2d_input; bwd_weight
             torch.nn.grad.conv2d_weight; bwd_bias dy.sum over n, h, w
  others     fwd: F.max_pool2d, F.avg_pool2d (count_include_pad),
             F.adaptive_avg_pool2d, F.batch_norm (fwd: training form, updating
             running statistics; fwd_infer: inference form), F.linear,
             torch.relu, torch.sigmoid, F.dropout (training: a new mask each
             call), a + b, torch.cat on channels, F.cross_entropy (mean);
             bwd_*: torch.autograd.grad on a graph the untimed forward saved
             (retain_graph=True), into the pass's tensors only: bwd_data x
             (batchnorm2d x, gamma, beta; concat every input), linear's
             bwd_weight w and b.
One warm-up call; runs of calls grow (x2 to x10) until one takes --min-time s
(default 0.05); each of the R repetitions is as many calls as take that long
at the fastest per-call time those runs saw.

Output, to FILE.tmp renamed to FILE: "# key=value" lines (torch, torchvision,
python, cpu_capability, threads, interop_threads, parallel_backend), then
  kind,id,model,op,pass,batch,image_size,classes,threads,repetitions,
  iterations,median_ms,min_ms,max_ms,reps_ms,images_per_s
kind model or layer; id, op the layer case's; pass the model's mode or the
layer's pass; batch the model's or the case's n; image_size, classes models
only; threads torch.get_num_threads(); iterations calls per repetition (1
for models); *_ms per call over the repetitions, reps_ms each ';'-joined;
images_per_s batch / median (models only).

Exit: 0 done, 2 bad arguments or case file (the message names the problem),
1 a check or PyTorch failed, 77 torch or torchvision not importable.
"""
import argparse
import math
import os
import platform
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    import torchvision
    import torchvision.models as tvm

    sys.dont_write_bytecode = True  # nothing written beside the script
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from seed_models import FashionCNN, LeNet
except ImportError as e:
    print(f"pytorch_peer: cannot import {e.name}", file=sys.stderr)
    sys.exit(77)

# name: (builder(classes), channels, usual size, resizable, default batch,
#        default classes, parameters at them, features into the classifier)
MODELS = {
    "fashion_cnn": (FashionCNN, 1, 32, False, 128, 10, 136586, 64),
    "lenet5": (LeNet, 1, 28, False, 128, 10, 61706, 84),
    "alexnet": (lambda k: tvm.alexnet(num_classes=k), 3, 224, True, 16, 1000, 61100840, 4096),
    "vgg16": (lambda k: tvm.vgg16(num_classes=k), 3, 224, True, 4, 1000, 138357544, 4096),
    "googlenet": (lambda k: tvm.googlenet(num_classes=k, aux_logits=False, transform_input=False,
                                          init_weights=True), 3, 224, True, 8, 1000, 6624904, 1024),
    "resnet18": (lambda k: tvm.resnet18(num_classes=k), 3, 224, True, 8, 1000, 11689512, 512),
}
MODES = ("infer", "train_step")
OPS = ("conv2d", "maxpool2d", "avgpool2d", "adaptive_avgpool2d", "batchnorm2d", "linear", "relu",
       "sigmoid", "dropout", "add", "concat", "softmax_xent")
PASSES = {op: ("fwd", "bwd_data") for op in OPS}
PASSES.update(conv2d=("fwd", "bwd_data", "bwd_weight", "bwd_bias"), add=("fwd",),
              batchnorm2d=("fwd", "fwd_infer", "bwd_data"),
              linear=("fwd", "bwd_data", "bwd_weight"))
DIMS = ("n", "c", "h", "w", "k", "r", "s", "p", "q", "stride_h", "stride_w", "pad_h", "pad_w")
# the dimensions each op needs (results/README.md); p, q are checked when given
NEEDS = {"conv2d": DIMS[:7] + DIMS[9:], "linear": ("n", "c", "k"), "batchnorm2d": DIMS[:4],
         "adaptive_avgpool2d": DIMS[:4] + ("p", "q"), "softmax_xent": ("n", "c"),
         "concat": DIMS[:4]}
NEEDS.update({op: DIMS[:4] + DIMS[5:7] + DIMS[9:] for op in ("maxpool2d", "avgpool2d")})
NEEDS.update({op: ("n",) for op in ("relu", "sigmoid", "dropout", "add")})
HEADER = ("kind,id,model,op,pass,batch,image_size,classes,threads,repetitions,iterations,"
          "median_ms,min_ms,max_ms,reps_ms,images_per_s")


class Bad(Exception):
    """An error in the arguments or the case file: exit 2."""


class Pace:
    """--paced: the harness says when each timed step runs, over fd 3 (a
    socket): this side writes "ready MODEL MODE" after a mode's warm-up and
    "done" after each step; the harness writes "step" before each one."""

    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def say(self, text):
        os.write(self.fd, (text + "\n").encode())

    def wait_step(self):
        while b"\n" not in self.buf:
            got = os.read(self.fd, 256)
            if not got:
                sys.exit("pytorch_peer: the harness closed the pace socket before the last step")
            self.buf += got
        line, self.buf = self.buf.split(b"\n", 1)
        if line != b"step":
            sys.exit(f"pytorch_peer: the harness said {line[:60]!r}, not 'step'")


def time_calls(fn, reps, min_time, pace=None, ready=""):
    """Per-call milliseconds of `reps` repetitions and the calls in each;
    with pace (models only), each repetition waits for the harness's word."""
    fn()  # the warm-up
    if pace:
        pace.say(ready)
        out = []
        for _ in range(reps):
            pace.wait_step()
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
            pace.say("done")
        return out, 1
    iters, best, took = 1, math.inf, 0.0
    while min_time > 0 and took < min_time and iters < 1 << 20:  # runs grow to min_time
        if took:
            iters *= min(10, max(2, math.ceil(1.4 * min_time / took)))
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        took = time.perf_counter() - t0
        best = min(best, took / iters)
    if min_time > 0:  # sized by the fastest call, so that one stall does not shrink them
        iters = max(1, min(1 << 20, math.ceil(min_time / max(best, 1e-9))))
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        out.append((time.perf_counter() - t0) * 1e3 / iters)
    return out, iters


def row(kind, times, iters, **kw):
    cells = {"kind": kind, "iterations": iters, "repetitions": len(times),
             "threads": torch.get_num_threads(), "median_ms": f"{statistics.median(times):.6g}",
             "min_ms": f"{min(times):.6g}", "max_ms": f"{max(times):.6g}",
             "reps_ms": ";".join(f"{t:.6g}" for t in times)}
    cells.update({key.rstrip("_"): v for key, v in kw.items()})
    return ",".join(str(cells.get(c, "")) for c in HEADER.split(","))


def model_rows(args):
    rows, names, modes = [], args.models.split(","), args.modes.split(",")
    for what, known, given in (("model", MODELS, names), ("mode", MODES, modes)):
        for name in given:
            if name not in known:
                raise Bad(f"unknown {what} '{name}' (known: {', '.join(known)})")
    for name in names:
        build, chans, usual, resizable, dbatch, dclasses, params, feats = MODELS[name]
        size = args.image_size or usual
        if size != usual and not resizable:
            raise Bad(f"{name} takes {usual}x{usual} images only, not --image-size {size}")
        batch, classes = args.batch or dbatch, args.classes or dclasses
        torch.manual_seed(0)
        model = build(classes)
        want = params + (classes - dclasses) * (feats + 1)
        got = sum(p.numel() for p in model.parameters())
        if got != want:
            sys.exit(f"pytorch_peer: {name} has {got} parameters, cnnbench's has {want}")
        x = torch.randn(batch, chans, size, size)
        labels = torch.arange(batch) % classes
        loss_fn = torch.nn.CrossEntropyLoss()

        def infer():
            with torch.no_grad():
                model(x)

        def train_step():
            for p in model.parameters():
                p.grad = None
            loss_fn(model(x), labels).backward()

        for mode in modes:
            model.train(mode == "train_step")
            times, _ = time_calls(infer if mode == "infer" else train_step, args.repetitions, 0,
                                  args.pace, f"ready {name} {mode}")
            med = statistics.median(times)
            rows.append(row("model", times, 1, model=name, pass_=mode, batch=batch,
                            image_size=size, classes=classes,
                            images_per_s=f"{batch / (med * 1e-3):.6g}"))
    return rows


def out_size(size, k, stride, pad, ceil):
    span = size + 2 * pad - k
    if ceil:
        n = -(-span // stride) + 1
        return n - 1 if (n - 1) * stride >= size + pad else n
    return span // stride + 1


def parse_case(header, cells):
    """One line of the case file: (id, op, pass, d), d its dimensions and options
    (bias, ceil, bn_global, parts, dropout_p); p, q made for conv2d and pooling."""
    if len(cells) != len(header):
        raise Bad(f"{len(cells)} cells, the header has {len(header)}")
    case = dict(zip(header, cells))
    op, ps, d = case["op"], case["pass"], {}
    if op not in OPS:
        raise Bad(f"unknown op '{op}' (known: {', '.join(OPS)})")
    if ps not in PASSES[op]:
        raise Bad(f"{op} has no pass '{ps}' (it has {', '.join(PASSES[op])})")
    for col in DIMS:
        if case[col] and not case[col].isdigit():
            raise Bad(f"{col} '{case[col]}' is not a whole number")
        d[col] = int(case[col]) if case[col] else None
        if col in NEEDS[op] and (d[col] is None or d[col] < (0 if "pad" in col else 1)):
            raise Bad(f"{op} needs {col} >= {0 if 'pad' in col else 1}")
    for flag, col, default in (("bias", "bias", 1), ("ceil", "ceil_mode", 0),
                               ("bn_global", "bn_global", 0)):
        if case.get(col, "") not in ("", "0", "1"):
            raise Bad(f"{col} '{case[col]}' is not 0 or 1")
        d[flag] = int(case.get(col) or default)
    if op in ("conv2d", "maxpool2d", "avgpool2d"):
        h, w, r, s = d["h"], d["w"], d["r"], d["s"]
        p = out_size(h, r, d["stride_h"], d["pad_h"], d["ceil"])
        q = out_size(w, s, d["stride_w"], d["pad_w"], d["ceil"])
        if p < 1 or q < 1:
            raise Bad(f"no {r}x{s} window fits the {h}x{w} input padded by "
                      f"{d['pad_h']}, {d['pad_w']}")
        if (d["p"], d["q"]) not in ((None, None), (p, q)):
            raise Bad(f"output {d['p']}x{d['q']} given, the dimensions make {p}x{q}")
        d["p"], d["q"] = p, q
    parts = case.get("parts", "")
    if op == "concat":
        d["parts"] = [int(v) for v in parts.split("+") if v.isdigit() and int(v) > 0]
        if len(d["parts"]) != len(parts.split("+")) or sum(d["parts"]) != d["c"]:
            raise Bad(f"parts '{parts}' must be channels ('+'-joined) summing to c = {d['c']}")
    prob = case.get("dropout_p") or "0.5"
    d["dropout_p"] = float(prob) if prob.replace(".", "", 1).isdigit() else -1.0
    if op == "dropout" and not 0 <= d["dropout_p"] <= 1:
        raise Bad(f"dropout_p '{prob}' is not a probability")
    return case["id"], op, ps, d


def layer_call(op, ps, d):
    """The function that times pass ps of the case whose dimensions and options are d."""
    n, c, h, w, k, r, s, p, q = (d[x] for x in DIMS[:9])
    stride, pad = (d["stride_h"], d["stride_w"]), (d["pad_h"], d["pad_w"])
    grads = {"bwd_data": ("x",), "bwd_weight": ("w", "b")}.get(ps, ()) if op != "conv2d" else ()
    t = {}

    def new(name, *shape):
        t[name] = torch.randn(*shape, requires_grad=name in grads)
        return t[name]

    if op == "conv2d":
        x, wt, dy = new("x", n, c, h, w), new("w", k, c, r, s), new("dy", n, k, p, q)
        b = new("b", k) if d["bias"] else None
        return {"fwd": lambda: F.conv2d(x, wt, b, stride, pad),
                "bwd_data": lambda: torch.nn.grad.conv2d_input(x.shape, wt, dy, stride, pad),
                "bwd_weight": lambda: torch.nn.grad.conv2d_weight(x, wt.shape, dy, stride, pad),
                "bwd_bias": lambda: dy.sum((0, 2, 3))}[ps]
    if op in ("maxpool2d", "avgpool2d"):
        pool = F.max_pool2d if op == "maxpool2d" else F.avg_pool2d
        x = new("x", n, c, h, w)
        fwd = lambda: pool(x, (r, s), stride, pad, ceil_mode=bool(d["ceil"]))  # noqa: E731
    elif op == "adaptive_avgpool2d":
        x = new("x", n, c, h, w)
        fwd = lambda: F.adaptive_avg_pool2d(x, (p, q))  # noqa: E731
    elif op == "batchnorm2d":
        train = ps == "fwd" or (ps == "bwd_data" and not d["bn_global"])
        grads = ("x", "g", "b") if ps == "bwd_data" else ()
        x, g, b = new("x", n, c, h, w), new("g", c), new("b", c)
        mean, var = torch.zeros(c), torch.ones(c)
        fwd = lambda: F.batch_norm(x, mean, var, g, b, train, 0.1, 1e-5)  # noqa: E731
    elif op == "linear":
        x, wt = new("x", n, c), new("w", k, c)
        b = new("b", k) if d["bias"] else None
        fwd = lambda: F.linear(x, wt, b)  # noqa: E731
    elif op in ("relu", "sigmoid"):
        x, act = new("x", n), getattr(torch, op)
        fwd = lambda: act(x)  # noqa: E731
    elif op == "dropout":
        x = new("x", n)
        fwd = lambda: F.dropout(x, d["dropout_p"], True)  # noqa: E731
    elif op == "add":
        a, b = torch.randn(n), torch.randn(n)
        fwd = lambda: a + b  # noqa: E731
    elif op == "concat":
        grads = tuple(f"x{i}" for i in range(len(d["parts"]))) if ps == "bwd_data" else ()
        xs = [new(f"x{i}", n, ci, h, w) for i, ci in enumerate(d["parts"])]
        fwd = lambda: torch.cat(xs, 1)  # noqa: E731
    else:  # softmax_xent
        logits, labels = new("x", n, c), torch.arange(n) % c
        fwd = lambda: F.cross_entropy(logits, labels)  # noqa: E731
    if ps.startswith("fwd"):
        return fwd
    y = fwd()
    wrt = [t[g] for g in grads if t.get(g) is not None]
    dy = torch.randn_like(y)
    return lambda: torch.autograd.grad(y, wrt, dy, retain_graph=True)


def read_cases(path):
    """The cases of the file at path, all checked: (where, id, op, pass, d)."""
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        raise Bad(f"{path}: {e.strerror}")
    rows = [(num, [v.strip() for v in line.split(",")]) for num, line in enumerate(lines, 1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise Bad(f"{path}: no header row")
    (num, header), cases = rows[0], []
    missing = [col for col in ("id", "op", "pass") + DIMS if col not in header]
    if missing:
        raise Bad(f"{path}:{num}: header lacks {', '.join(missing)}")
    for num, cells in rows[1:]:
        try:
            cases.append((f"{path}:{num}",) + parse_case(header, cells))
        except Bad as e:
            raise Bad(f"{path}:{num}: {e}")
    return cases


def layer_rows(args):
    rows = []
    for where, case_id, op, ps, d in read_cases(args.layers):
        torch.manual_seed(0)
        try:
            times, iters = time_calls(layer_call(op, ps, d), args.repetitions, args.min_time)
        except (RuntimeError, ValueError) as e:
            raise Bad(f"{where}: PyTorch refused the case: {str(e).splitlines()[0]}")
        rows.append(row("layer", times, iters, id=case_id, op=op, pass_=ps, batch=d["n"]))
    return rows


def info():
    def said(text, key):  # "key: value" in torch's build or parallel summary
        return ([ln.split(":", 1)[1].strip() for ln in text.splitlines() if key in ln]
                or ["unknown"])[0]
    return {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "python": platform.python_version(),
            "cpu_capability": said(torch.__config__.show(), "CPU capability usage"),
            "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "parallel_backend": said(torch.__config__.parallel_info(), "parallel backend")}


def count(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number")
    return int(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--models", help="comma-separated: " + ", ".join(MODELS))
    what.add_argument("--layers", metavar="CASES.csv", help="layer cases (see the docstring)")
    for opt in ("batch", "image-size", "classes", "threads"):
        ap.add_argument("--" + opt, type=count, default=0, help="0: the default")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--repetitions", type=count, default=5)
    ap.add_argument("--min-time", type=float, default=0.05, help="seconds per layer repetition")
    ap.add_argument("--paced", action="store_true",
                    help="models: wait for the harness's word on fd 3 before each timed step")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()  # exits 2 on a bad option
    args.pace = None
    try:
        if args.paced:
            if not args.models:
                raise Bad("--paced times models only")
            try:
                os.fstat(3)
            except OSError:
                raise Bad("--paced needs the harness's socket on fd 3")
            args.pace = Pace(3)
        if args.repetitions < 1 or not args.min_time >= 0:
            raise Bad("--repetitions must be >= 1 and --min-time >= 0")
        if not os.access(os.path.dirname(os.path.abspath(args.out)), os.W_OK):
            raise Bad(f"--out {args.out}: its folder is not writable")
        if args.threads:
            torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(1)
        rows = model_rows(args) if args.models else layer_rows(args)
    except Bad as e:
        print(f"pytorch_peer: {e}", file=sys.stderr)
        sys.exit(2)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(f"# {k}={v}\n" for k, v in info().items())
        f.write(HEADER + "\n" + "".join(r + "\n" for r in rows))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
