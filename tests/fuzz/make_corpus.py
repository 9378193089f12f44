#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets: tests/fuzz/corpus/<reader>/.

  python3 tests/fuzz/make_corpus.py [CORPUS_DIR]

Seeds named ok-* are inputs the reader must accept, bad-* inputs it must
refuse with a reason (fuzz_replay checks both); crash-* files (the inputs
that once crashed a reader, kept as regressions) are not written here and
are left alone. Only the standard library is used: .npy, IDX, gzip and the
"files" container (tests/fuzz/fuzz_util.h) are written by hand.

The crash-* files written here are regressions found while the targets
were written (reading the reader beside its target), each confirmed by the
target before the reader was fixed; those the fuzzer found are committed
as it wrote them."""
import gzip
import json
import os
import struct
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(reader, name, data):
    d = os.path.join(ROOT, reader)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- .npy -------------------------------------------------------------------

def npy_header(descr, shape, fortran=False, version=(1, 0), text=None):
    if text is None:
        dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
        text = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
            descr, "True" if fortran else "False", dims)
    text = text.encode()
    lb = 2 if version[0] == 1 else 4
    pad = 64 - (6 + 2 + lb + len(text) + 1) % 64
    text += b" " * (pad % 64) + b"\n"
    pre = b"\x93NUMPY" + bytes(version)
    pre += struct.pack("<H" if lb == 2 else "<I", len(text))
    return pre + text


def npy(descr, shape, body, **kw):
    return npy_header(descr, shape, **kw) + body


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def f32(shape, value=0.0):
    return npy("<f4", shape, struct.pack("<%df" % numel(shape), *([value] * numel(shape))))


def npy_seeds():
    put("npy", "ok-f32-2x3.npy", npy("<f4", (2, 3), struct.pack("<6f", 1, 2, 3, 4, 5, 6)))
    put("npy", "ok-f32-v2.npy", npy("<f4", (2,), struct.pack("<2f", 1, 2), version=(2, 0)))
    put("npy", "ok-f32-v3-4d.npy", npy("<f4", (1, 1, 2, 1), struct.pack("<2f", 1, 2), version=(3, 0)))
    put("npy", "ok-i64-labels.npy", npy("<i8", (4,), struct.pack("<4q", 0, 9, 3, 1)))
    put("npy", "ok-i32-labels.npy", npy("<i4", (3,), struct.pack("<3i", 2, 0, 1)))
    put("npy", "ok-u8-labels.npy", npy("|u1", (3,), bytes([7, 8, 9])))
    put("npy", "ok-u8-scalar.npy", npy("|u1", (), bytes([5])))
    put("npy", "ok-empty-0x3.npy", npy("<f4", (0, 3), b""))
    put("npy", "ok-dq-keys.npy", npy("<f4", (1,), struct.pack("<f", 1),
                                     text='{"shape": (1,), "fortran_order": False, "descr": "<f4"}'))
    put("npy", "ok-i64-big-label.npy", npy("<i8", (1,), struct.pack("<q", 1 << 40)))
    put("npy", "bad-empty.npy", b"")
    put("npy", "bad-magic.npy", b"\x93NUMPZ\x01\x00" + npy_header("<f4", (1,))[8:] + b"\0" * 4)
    put("npy", "bad-truncated-preamble.npy", b"\x93NUMPY\x01")
    put("npy", "bad-truncated-header.npy", npy_header("<f4", (2, 3))[:30])
    put("npy", "bad-truncated-body.npy", npy("<f4", (2, 3), b"\0" * 20))
    put("npy", "bad-trailing.npy", npy("<f4", (1,), b"\0" * 8))
    put("npy", "bad-version-9.npy", b"\x93NUMPY\x09\x00" + npy_header("<f4", (1,))[8:] + b"\0" * 4)
    put("npy", "bad-header-len-huge.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{}")
    put("npy", "bad-huge-dims.npy", npy("<f4", (1 << 40, 1 << 40), b""))
    put("npy", "bad-overflow-dim.npy", npy("<f4", (99999999999999999999999,), b""))
    put("npy", "bad-5-dims.npy", npy("<f4", (1, 1, 1, 1, 1), b"\0" * 4))
    put("npy", "bad-dtype-f8.npy", npy("<f8", (1,), b"\0" * 8))
    put("npy", "bad-dtype-structured.npy", npy("<f4", (1,), b"\0" * 4,
                                               text="{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"))
    put("npy", "bad-big-endian.npy", npy(">f4", (1,), b"\0" * 4))
    put("npy", "bad-fortran.npy", npy("<f4", (2, 2), b"\0" * 16, fortran=True))
    put("npy", "bad-shape-not-tuple.npy", npy("<f4", (3,), b"\0" * 12,
                                              text="{'descr': '<f4', 'fortran_order': False, 'shape': (3), }"))
    put("npy", "bad-negative-dim.npy", npy("<f4", (1,), b"",
                                           text="{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"))
    put("npy", "bad-missing-shape.npy", npy("<f4", (1,), b"\0" * 4,
                                            text="{'descr': '<f4', 'fortran_order': False}"))
    put("npy", "bad-unknown-key.npy", npy("<f4", (1,), b"\0" * 4,
                                          text="{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}"))
    put("npy", "bad-duplicate-key.npy", npy("<f4", (1,), b"\0" * 4,
                                            text="{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}"))
    put("npy", "bad-unclosed-dict.npy", npy("<f4", (1,), b"\0" * 4,
                                            text="{'descr': '<f4', 'fortran_order': False, 'shape': (1,"))
    put("npy", "bad-text-after-dict.npy", npy("<f4", (1,), b"\0" * 4,
                                              text="{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x"))


# ---- IDX --------------------------------------------------------------------

def idx(dims, body=None, magic=None):
    m = magic if magic is not None else bytes([0, 0, 8, len(dims)])
    out = m + b"".join(struct.pack(">I", d) for d in dims)
    return out + (body if body is not None else bytes(i % 256 for i in range(numel(dims))))


def idx_seeds():
    labels, images = idx((5,)), idx((2, 3, 3))
    put("idx", "ok-labels.idx", labels)
    put("idx", "ok-images.idx", images)
    put("idx", "ok-empty-labels.idx", idx((0,)))
    put("idx", "ok-labels.idx.gz", gzip.compress(labels, mtime=0))
    put("idx", "ok-images.idx.gz", gzip.compress(images, mtime=0))
    put("idx", "bad-empty.idx", b"")
    put("idx", "bad-short-magic.idx", b"\0\0\x08")
    put("idx", "bad-magic.idx", idx((5,), magic=b"\x12\x34\x08\x01"))
    put("idx", "bad-type-float.idx", idx((5,), magic=b"\0\0\x0d\x01"))
    put("idx", "bad-ndim-2.idx", idx((2, 2)))
    put("idx", "bad-ndim-4.idx", idx((1, 1, 1, 1)))
    put("idx", "bad-header-truncated.idx", idx((2, 3, 3))[:9])
    put("idx", "bad-huge-dims.idx", idx((0xffffffff, 0xffffffff, 0xffffffff), body=b""))
    put("idx", "bad-body-truncated.idx", idx((5,))[:-1])
    put("idx", "bad-trailing.idx", idx((5,)) + b"\0")
    gz = gzip.compress(images, mtime=0)
    put("idx", "bad-gz-truncated.idx.gz", gz[:len(gz) // 2])
    put("idx", "bad-gz-crc.idx.gz", gz[:-8] + bytes([gz[-8] ^ 1]) + gz[-7:])
    put("idx", "bad-gz-garbage.idx.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 32)
    put("idx", "bad-gz-of-bad-magic.idx.gz", gzip.compress(b"\x01\x02\x08\x01\0\0\0\0", mtime=0))


# ---- the "files" container (fuzz_util.h) ------------------------------------

def pack(variant, files):
    out = bytes([variant])
    for name, data in files:
        if isinstance(data, str):
            data = data.encode()
        n = name.encode()
        out += bytes([len(n)]) + n + struct.pack("<I", len(data)) + data
    return out


# lenet5 (models/net_lenet.c) with c input channels and 10 classes
def lenet_shapes(c=1):
    return [("conv1.weight", (6, c, 5, 5)), ("conv1.bias", (6,)),
            ("conv2.weight", (16, 6, 5, 5)), ("conv2.bias", (16,)),
            ("fc1.weight", (120, 400)), ("fc1.bias", (120,)),
            ("fc2.weight", (84, 120)), ("fc2.bias", (84,)),
            ("fc3.weight", (10, 84)), ("fc3.bias", (10,))]


def lenet_files(prefix="", c=1, value=0.01):
    return [(prefix + k + ".npy", f32(s, value)) for k, s in lenet_shapes(c)]


def weights_seeds():
    put("weights", "ok-lenet5.bin", pack(0, lenet_files()))
    put("weights", "bad-empty-folder.bin", pack(0, []))
    put("weights", "bad-one-key.bin", pack(0, [("conv1.bias.npy", f32((6,)))]))
    put("weights", "bad-wrong-shape.bin", pack(0, [("conv1.bias.npy", f32((7,)))]))
    put("weights", "bad-dtype-i64.bin", pack(0, [("conv1.bias.npy", npy("<i8", (6,), b"\0" * 48))]))
    put("weights", "bad-nan.bin", pack(0, [("conv1.bias.npy", npy("<f4", (6,), struct.pack("<6f", 0, 0, float("nan"), 0, float("inf"), 0)))]))
    put("weights", "bad-not-npy.bin", pack(0, [("conv1.bias.npy", b"not an npy file")]))
    put("weights", "bad-extra-key.bin", pack(0, [("extra.npy", f32((2, 2))), ("conv1.bias.npy", f32((6,)))]))
    put("weights", "bad-module-prefix.bin", pack(0, [("module.conv1.bias.npy", f32((6,)))]))
    put("weights", "bad-nbt-extra.bin", pack(0, [("conv1.num_batches_tracked.npy", npy("<i8", (), b"\0" * 8))]))
    put("weights", "bad-folder-as-key.bin", pack(0, [("conv1.bias.npy/x", b"")]))
    put("weights", "bad-c1-weights-on-c3.bin", pack(1, [("conv1.weight.npy", f32((6, 1, 5, 5)))]))
    put("weights", "bad-c3-missing.bin", pack(1, [("conv1.bias.npy", f32((6,)))]))
    put("weights", "bad-truncated-record.bin", pack(0, [("conv1.bias.npy", f32((6,)))])[:-5])


# ---- checkpoints (harness/train_checkpoint.c) --------------------------------

def fnv(data):
    h = 14695981039346656037
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xffffffffffffffff
    return h


# what fuzz_checkpoint.c checks a checkpoint against (variant 0: SGD, 1: Adam)
IDENT = [
    {"format": "cnnbench-train-checkpoint-1", "model": "lenet5", "input": "1x28x28", "classes": 10,
     "batch": 2, "seed": "7", "backend": "t", "optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
     "beta1": 0.9, "beta2": 0.999, "eps": 1e-08, "weight_decay": 0},
    {"format": "cnnbench-train-checkpoint-1", "model": "lenet5", "input": "1x28x28", "classes": 10,
     "batch": 2, "seed": "7", "backend": "t", "optimizer": "adam", "lr": 0.001, "momentum": 0.9,
     "beta1": 0.9, "beta2": 0.999, "eps": 1e-08, "weight_decay": 0},
]
STATE = {"epochs_done": 1, "optim_step": 30, "model_step": 30, "batches_done": 0, "correct": 0,
         "loss_sum": 0, "train_s": 1.5, "wait_s": 0.1}

# the parameter block: every tensor at a 64-byte (16-float) boundary (models/layout.c)
LENET_FLOATS = sum((numel(s) + 15) // 16 * 16 for _, s in lenet_shapes())


def checkpoint(variant, files, prefix="", listed=None, **changes):
    """checkpoint.json (its "files" from the files given unless listed says
    otherwise) and the files, under prefix."""
    doc = dict(IDENT[variant])
    doc.update(STATE)
    doc["files"] = {n: "%d %016x" % (len(d), fnv(d)) for n, d in files} if listed is None else listed
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    text = json.dumps(doc, indent=2) + "\n"
    return pack(variant, [(prefix + "checkpoint.json", text)] + [(prefix + n, d) for n, d in files])


def checkpoint_seeds():
    full = lenet_files("weights/") + [("optimizer.npy", f32((LENET_FLOATS,), 0.0))]
    put("checkpoint", "ok-sgd.bin", checkpoint(0, full))
    small = [("weights/conv1.bias.npy", f32((6,)))]
    put("checkpoint", "bad-empty.bin", pack(0, []))
    put("checkpoint", "bad-json-syntax.bin", pack(0, [("checkpoint.json", '{"format": "cnnbench-train-checkpoint-1",')]))
    put("checkpoint", "bad-json-not-object.bin", pack(0, [("checkpoint.json", "[1, 2]")]))
    put("checkpoint", "bad-json-deep.bin", pack(0, [("checkpoint.json", "{\"a\":" * 40 + "1" + "}" * 40)]))
    put("checkpoint", "bad-format.bin", checkpoint(0, small, format="other-2"))
    put("checkpoint", "bad-model.bin", checkpoint(0, small, model="vgg16"))
    put("checkpoint", "bad-input.bin", checkpoint(0, small, input="3x32x32"))
    put("checkpoint", "bad-classes.bin", checkpoint(0, small, classes=None))
    put("checkpoint", "bad-batch.bin", checkpoint(0, small, batch="two"))
    put("checkpoint", "bad-seed.bin", checkpoint(0, small, seed="8"))
    put("checkpoint", "bad-optimizer.bin", checkpoint(0, small, optimizer="adam"))
    put("checkpoint", "bad-lr.bin", checkpoint(0, small, lr=0.1))
    put("checkpoint", "bad-adam-beta2.bin", checkpoint(1, small, beta2=0.99))
    put("checkpoint", "bad-adam-weights-missing.bin", checkpoint(1, small))
    put("checkpoint", "bad-files-entry.bin", checkpoint(0, small, listed={"weights/conv1.bias.npy": "twelve"}))
    put("checkpoint", "bad-file-missing.bin", checkpoint(0, [], listed={"weights/conv1.weight.npy": "10 00000000000000ff"}))
    put("checkpoint", "bad-file-size.bin", checkpoint(0, small, listed={"weights/conv1.bias.npy": "3 0000000000000000"}))
    put("checkpoint", "bad-file-checksum.bin", checkpoint(0, small, listed={"weights/conv1.bias.npy": "%d 0000000000000001" % len(small[0][1])}))
    put("checkpoint", "bad-epochs-negative.bin", checkpoint(0, small, epochs_done=-1))
    put("checkpoint", "bad-state-missing.bin", checkpoint(0, small, wait_s=None))
    put("checkpoint", "bad-weights-missing.bin", checkpoint(0, small))
    put("checkpoint", "bad-found-epoch.bin", checkpoint(0, small, prefix="checkpoints/t/epoch-0002/"))
    put("checkpoint", "bad-found-batch.bin",
        checkpoint(0, small, prefix="checkpoints/t/epoch-0002-batch-000010/")
        + pack(0, [("checkpoints/t/epoch-0001/checkpoint.json", "{}"),
                   ("checkpoints/t/.epoch-0003.tmp-1/checkpoint.json", "{}")])[1:])
    # regressions: a listed file outside the folder (/dev/zero: read forever), a folder as a
    # listed file, counts that overflow their types once cast (UBSan: float-cast-overflow)
    put("checkpoint", "crash-files-dev-zero.bin",
        checkpoint(0, small, listed={"../" * 12 + "dev/zero": "1 0000000000000000"}))
    put("checkpoint", "crash-files-folder.bin", checkpoint(0, small, listed={"weights": "1 0000000000000000"}))
    put("checkpoint", "crash-epochs-1e10.bin", checkpoint(0, full, epochs_done=1e10))
    put("checkpoint", "bad-optim-step-1e300.bin", checkpoint(0, small, optim_step=1e300))
    put("checkpoint", "bad-batches-fraction.bin", checkpoint(0, small, batches_done=2.5))
    put("checkpoint", "bad-train-s-inf.bin", pack(0, [("checkpoint.json", json.dumps(dict(IDENT[0], **STATE, files={})).replace('"train_s": 1.5', '"train_s": 1e999'))]))


# ---- CSV (harness/csv_read.c; plot, compare and plan.csv on top) -------------

RESULTS_HEADER = ("model,layer,layers,op,shape,n,c,h,w,k,r,s,p,q,stride_h,stride_w,pad_h,pad_w,pass,backend,"
                  "status,algorithm,batch,image_size,threads,repetitions,cache,median_ms,min_ms,max_ms,"
                  "reps_ms,gflops,pct_peak,intensity,ratio,reorder_ms,charged_layers,charged_at,"
                  "images_per_s,params_bytes,grads_bytes,act_bytes,act_unshared_bytes,ws_bytes,"
                  "peak_rss_bytes,device_mem_bytes")


def results_row(layer, backend, status, median, reps, model="lenet5", op="conv2d", p="fwd"):
    return ("%s,%s,1,%s,mb1ic1ih28iw28oc6oh28ow28kh5kw5ph2pw2,1,1,28,28,6,5,5,28,28,1,1,2,2,%s,%s,%s,"
            "direct,1,28,1,3,warm,%s,%s,%s,%s,1.5,2.0,3.1,1.000,nan,0,,,,,,,,," % (
                model, layer, op, p, backend, status, median, median, median, reps))


def csv_seeds():
    rows = [results_row("conv1", "naive", "OK", "0.5", "0.4;0.5;0.6"),
            results_row("conv1", "im2col", "OK", "0.25", "0.25;0.25;0.3"),
            results_row("conv1", "winograd", "UNSUPPORTED", "nan", ""),
            results_row("TOTAL", "naive", "OK", "0.5", ""),
            results_row("MODEL", "naive", "OK", "3.5", "3.4;3.5;3.6", op="model", p="train_step")]
    put("csv", "ok-results.csv", RESULTS_HEADER + "\n" + "\n".join(rows) + "\n")
    put("csv", "ok-results-crlf.csv", RESULTS_HEADER + "\r\n" + "\r\n".join(rows[:2]) + "\r\n")
    put("csv", "ok-plan.csv", "model,layer,op,pass,backend,algorithm,ms,ms_im2col\n"
        "lenet5,conv1,conv2d,fwd,naive,\"direct, looped\",0.5,0.6\n"
        "lenet5,fc1,linear,bwd_data,naive,sgemm,0.1,0.2\n"
        "alexnet,conv1,conv2d,fwd,naive,,1,1\n")
    put("csv", "ok-plan-no-model.csv", "layer,pass,backend\nconv1,fwd,naive\nconv2,bwd_weight,naive\n")
    put("csv", "ok-quoted.csv", 'a,"b ""q"", c",d\n"multi\nline",,"x"\n1,2,3')
    put("csv", "ok-header-only.csv", "a,b,c\n")
    put("csv", "ok-blank-last-line.csv", "a,b\n1,2\n\n")
    put("csv", "ok-duplicate-case.csv", RESULTS_HEADER + "\n" + rows[0] + "\n" + rows[0] + "\n")
    put("csv", "ok-bad-reps.csv", RESULTS_HEADER + "\n" + results_row("conv1", "naive", "OK", "0.5", "0.4;x;-1") + "\n")
    put("csv", "ok-plan-bad-pass.csv", "layer,pass,backend\nconv1,sideways,naive\n")
    put("csv", "ok-plan-bad-layer.csv", "layer,pass,backend\nconv9,fwd,naive\n")
    put("csv", "bad-empty.csv", "")
    put("csv", "bad-nul.csv", "a,b\n1,\0\n")
    put("csv", "bad-unterminated-quote.csv", 'a,b\n1,"2\n')
    put("csv", "bad-text-after-quote.csv", 'a,b\n1,"2"x\n')
    put("csv", "bad-quote-in-field.csv", 'a,b\n1,2"3\n')
    put("csv", "bad-field-count.csv", "a,b,c\n1,2\n")
    put("csv", "bad-too-many-fields.csv", ",".join(["x"] * 5000) + "\n")
    put("csv", "bad-results-short-row.csv", RESULTS_HEADER + "\n" + rows[0].rsplit(",", 3)[0] + "\n")


# ---- the command line (harness/cli.c) -----------------------------------------

def argv(variant, *words):
    return bytes([variant]) + b"\0".join(w.encode() for w in words)


def cli_seeds():
    put("cli", "ok-basic", argv(0, "--out", "d", "--batch", "4", "--backend", "im2col", "pos1"))
    put("cli", "ok-every-type", argv(0, "--out=d", "--seed", "0x10", "--tolerance", "1e-3",
                                     "--image-size", "3,4", "--quick", "--ops", "--passes", "fwd,bwd_data"))
    put("cli", "ok-ops-value", argv(0, "--out=d", "--op=conv2d,relu", "--image-size=8", "a", "b", "c"))
    put("cli", "ok-variant1", argv(1, "--quick", "--batch=-3"))
    put("cli", "bad-unknown-option", argv(0, "--out=d", "--nope"))
    put("cli", "bad-given-twice", argv(0, "--out=d", "--backend", "x", "--backends", "y"))
    put("cli", "bad-int-overflow", argv(0, "--out=d", "--batch", "99999999999"))
    put("cli", "bad-int-text", argv(0, "--out=d", "--batch", "4x"))
    put("cli", "bad-double", argv(0, "--out=d", "--tolerance", "1e999"))
    put("cli", "bad-u64-negative", argv(0, "--out=d", "--seed", "-1"))
    put("cli", "bad-pair", argv(0, "--out=d", "--image-size", ",3"))
    put("cli", "bad-pair-long", argv(0, "--out=d", "--image-size", "1" * 40 + ",3"))
    put("cli", "bad-flag-value", argv(0, "--out=d", "--quick=1"))
    put("cli", "bad-missing-value", argv(0, "--out=d", "--batch"))
    put("cli", "bad-empty-value", argv(0, "--out="))
    put("cli", "bad-missing-required", argv(0, "--quick"))
    put("cli", "bad-positional-not-taken", argv(1, "pos"))
    put("cli", "bad-too-many-positionals", argv(0, "--out=d", "a", "b", "c", "d"))
    put("cli", "help", argv(0, "--help"))


if __name__ == "__main__":
    npy_seeds()
    idx_seeds()
    weights_seeds()
    checkpoint_seeds()
    csv_seeds()
    cli_seeds()
