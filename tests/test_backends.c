/* Every backend against the naive reference, table-driven as ggml's
 * test-backend-ops. For each backend selected (--backends LIST; default:
 * every one in the registry but naive) that is built and usable here:
 *
 *  - verify's quick shapes and the corner cases below run through the
 *    verify machinery (harness/verify_*.c): seeded inputs, outputs poisoned
 *    with NaN, the naive reference, and the harness's one tolerance module
 *    and zero-trust rule. Every op and pass the backend supports must PASS;
 *    what it does not support is counted as skipped;
 *  - the checks every backend must meet beside those rows
 *    (backend_checks_common.c), on the corner cases and a few of their own;
 *  - the backend's own checks (backend_checks_<name>.c).
 *
 * With --layers: full-size VGG-16 and ResNet-18 layers instead (seconds in
 * Release, minutes under the sanitizers; ctest label slow).
 *
 * A backend that is not usable here (cuDNN without a GPU) must say why and
 * refuse a context cleanly; if no selected backend could run, the exit
 * status is 77, which ctest reports as skipped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_checks.h"
#include "cli.h"
#include "dispatch.h"
#include "registry.h"
#include "test_util.h"
#include "verify_run.h"

/* One table row per op kind; `fill` picks the inputs (backend_checks.h). */
// clang-format off
#define CASE(fill, kind_, field, ...) {{.kind = kind_, .field = {__VA_ARGS__}}, fill}
#define POOL(fill, ...) CASE(fill, CNN_OP_POOL, pool, __VA_ARGS__)
#define ADAPOOL(...) CASE(FILL_SEEDED, CNN_OP_ADAPOOL, adapool, __VA_ARGS__)
#define BN(fill, ...) CASE(fill, CNN_OP_BN, bn, __VA_ARGS__)
#define LINEAR(...) CASE(FILL_SEEDED, CNN_OP_LINEAR, linear, __VA_ARGS__)
#define ACT(fill, mode, count) CASE(fill, CNN_OP_ACT, act, CNN_ACT_##mode, count)
#define DROPOUT(...) CASE(FILL_SEEDED, CNN_OP_DROPOUT, dropout, __VA_ARGS__)
#define ADD(count) CASE(FILL_SEEDED, CNN_OP_ADD, add, count)
#define XENT(fill, n, classes) CASE(fill, CNN_OP_XENT, xent, n, classes)
#define OPTIM(mode, ...) CASE(FILL_SEEDED, CNN_OP_OPTIM, optim, CNN_OPTIM_##mode, __VA_ARGS__)
#define CONCAT(n_, h_, w_, count_, ...) \
    CASE(FILL_SEEDED, CNN_OP_CONCAT, concat, .n = n_, .h = h_, .w = w_, .count = count_, \
         .c = {__VA_ARGS__})
// clang-format on
#define MAX CNN_POOL_MAX
#define AVG CNN_POOL_AVG

/* The corner cases every backend faces, beside verify's own edge set. */
const bc_case bc_cases[] = {
    /* conv: n c h w k r s sh sw ph pw bias */
    BC_CONV(2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, true),        /* odd, non-square */
    BC_CONV(3, 5, 11, 6, 7, 3, 2, 2, 1, 1, 0, true),       /* rectangular kernel and stride */
    BC_CONV(2, 3, 35, 35, 8, 11, 11, 4, 4, 2, 2, true),    /* 11x11 stride 4 (AlexNet conv1) */
    BC_CONV(2, 4, 13, 13, 6, 5, 5, 3, 3, 3, 3, true),      /* stride 3, padding 3 */
    BC_CONV(2, 4, 9, 10, 4, 3, 3, 4, 4, 1, 1, true),       /* stride 4 on 3x3 */
    BC_CONV(1, 1, 9, 9, 1, 3, 3, 1, 1, 1, 1, true),        /* C = K = 1 */
    BC_CONV(2, 1, 12, 11, 8, 3, 3, 1, 1, 1, 1, false),     /* C = 1 */
    BC_CONV(2, 8, 12, 12, 1, 3, 3, 1, 1, 1, 1, true),      /* K = 1 */
    BC_CONV(2, 16, 10, 10, 24, 1, 1, 1, 1, 0, 0, true),    /* 1x1 */
    BC_CONV(2, 32, 9, 9, 16, 1, 1, 2, 2, 0, 0, true),      /* 1x1 stride 2 (downsample) */
    BC_CONV(2, 6, 9, 9, 10, 1, 1, 2, 2, 0, 0, true),       /* 1x1 stride 2, odd channels */
    BC_CONV(2, 3, 5, 5, 4, 1, 1, 1, 1, 1, 1, true),        /* 1x1 with padding */
    BC_CONV(4, 64, 8, 7, 32, 1, 1, 1, 1, 0, 0, false),     /* 1x1: TF32 would miss its bound */
    BC_CONV(8, 16, 14, 14, 24, 1, 1, 1, 1, 0, 0, true),    /* 1x1, batch 8 */
    BC_CONV(1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, true),        /* kernel larger than the input */
    BC_CONV(1, 3, 5, 5, 4, 5, 5, 1, 1, 0, 0, true),        /* 1x1 output, n = 1: db is dy */
    BC_CONV(3, 3, 5, 4, 4, 5, 4, 1, 1, 0, 0, true),        /* 1x1 output: db sums the batch */
    BC_CONV(2, 3, 10, 10, 4, 2, 2, 3, 3, 0, 0, false),     /* stride > kernel: inputs never read */
    BC_CONV(2, 3, 12, 10, 5, 7, 1, 1, 1, 3, 0, true),      /* 7x1 */
    BC_CONV(2, 8, 15, 15, 8, 3, 3, 2, 2, 1, 1, true),      /* odd size, stride 2 */
    BC_CONV(2, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, true),    /* 3x3 */
    BC_CONV(2, 32, 14, 14, 32, 3, 3, 1, 1, 1, 1, true),    /* Winograd-friendly 3x3 */
    BC_CONV(2, 16, 28, 28, 16, 5, 5, 1, 1, 2, 2, true),    /* FFT-friendly 5x5 */
    BC_CONV(2, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, false),   /* VGG-like 3x3 */
    BC_CONV(2, 3, 32, 32, 16, 7, 7, 2, 2, 3, 3, false),    /* ResNet stem, smaller */
    BC_CONV(2, 64, 28, 28, 64, 1, 1, 1, 1, 0, 0, false),   /* ResNet bottleneck 1x1 */
    BC_CONV(2, 128, 14, 14, 256, 3, 3, 2, 2, 1, 1, false), /* ResNet downsampling 3x3 */
    /* pool: mode n c h w kh kw sh sw ph pw ceil */
    POOL(FILL_TIES, MAX, 2, 3, 8, 8, 2, 2, 2, 2, 0, 0, false),
    POOL(FILL_TIES, MAX, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true),
    POOL(FILL_TIES, MAX, 1, 2, 6, 7, 3, 2, 3, 1, 1, 0, false),
    POOL(FILL_TIES, MAX, 2, 3, 9, 9, 3, 3, 2, 2, 1, 1, false),
    POOL(FILL_TIES, MAX, 2, 3, 8, 8, 3, 3, 2, 2, 0, 0, true),
    POOL(FILL_TIES, MAX, 2, 1, 7, 7, 2, 2, 2, 2, 0, 0, true),   /* ceil adds a window */
    POOL(FILL_TIES, MAX, 1, 3, 13, 11, 4, 4, 4, 4, 2, 1, true), /* stride 4 */
    POOL(FILL_TIES, MAX, 2, 2, 5, 6, 1, 1, 1, 1, 0, 0, false),  /* 1x1: identity */
    POOL(FILL_CONSTANT, MAX, 2, 3, 8, 8, 3, 3, 1, 1, 1, 1, false),
    POOL(FILL_CONSTANT, MAX, 2, 3, 8, 8, 2, 2, 2, 2, 0, 0, false),
    /* rows of more than 256 outputs: max backward scans them in chunks */
    POOL(FILL_TIES, MAX, 1, 2, 5, 601, 3, 3, 1, 2, 1, 1, true),
    POOL(FILL_TIES, MAX, 2, 3, 4, 700, 2, 3, 2, 1, 1, 1, false),
    POOL(FILL_SEEDED, MAX, 2, 3, 8, 10, 3, 3, 2, 2, 0, 0, true), /* extra ceil windows */
    POOL(FILL_SEEDED, MAX, 1, 4, 13, 11, 3, 2, 2, 3, 1, 1, true),
    POOL(FILL_SEEDED, MAX, 2, 8, 56, 56, 3, 3, 2, 2, 1, 1, false), /* ResNet */
    /* 3x3 at stride 2, split rows (cpu_pool_s2.c): rows of 1 and 2, a row
     * of exactly one vector block of windows (pad 1, and ceil with pad 0),
     * and a row past its buffers (the row form) */
    POOL(FILL_TIES, MAX, 1, 2, 3, 1, 3, 3, 2, 2, 1, 1, true),
    POOL(FILL_TIES, MAX, 2, 3, 5, 2, 3, 3, 2, 2, 1, 1, false),
    POOL(FILL_TIES, MAX, 1, 2, 9, 64, 3, 3, 2, 2, 1, 1, false),
    POOL(FILL_TIES, MAX, 1, 2, 8, 33, 3, 3, 2, 2, 0, 0, true),
    POOL(FILL_TIES, MAX, 1, 2, 4, 600, 3, 3, 2, 2, 1, 1, false),
    POOL(FILL_TIES, MAX, 2, 4, 7, 7, 3, 3, 1, 1, 1, 1, true),      /* GoogLeNet's branch pools: */
    POOL(FILL_TIES, MAX, 2, 3, 14, 14, 3, 3, 1, 1, 1, 1, true),    /* the plane form */
    POOL(FILL_SEEDED, MAX, 2, 3, 28, 28, 3, 3, 1, 1, 1, 1, true),
    POOL(FILL_TIES, MAX, 1, 3, 9, 5, 3, 3, 1, 1, 0, 0, false),     /* separable 3x3, unpadded, */
    POOL(FILL_TIES, MAX, 2, 2, 6, 4, 3, 3, 1, 1, 1, 1, false),     /* rows of 5, 4, 3 and 2 */
    POOL(FILL_TIES, MAX, 1, 3, 9, 5, 2, 2, 1, 1, 0, 0, false),     /* 2x2 stride 1, no padding */
    POOL(FILL_TIES, MAX, 1, 2, 6, 11, 3, 2, 1, 1, 1, 0, false),    /* one axis padded */
    POOL(FILL_TIES, MAX, 2, 3, 7, 9, 2, 2, 2, 2, 0, 0, false),     /* disjoint 2x2: odd sides */
    POOL(FILL_SEEDED, MAX, 2, 4, 16, 16, 2, 2, 2, 2, 0, 0, false), /* the Fashion-MNIST CNN's */
    POOL(FILL_TIES, MAX, 1, 2, 7, 33, 2, 2, 2, 2, 0, 0, false),    /* rows in place, odd */
    POOL(FILL_SEEDED, AVG, 2, 3, 7, 9, 2, 2, 2, 2, 0, 0, false),   /* disjoint 2x2, average */
    POOL(FILL_SEEDED, AVG, 2, 4, 10, 10, 2, 2, 2, 2, 0, 0, false), /* LeNet-5's pool2 */
    POOL(FILL_SEEDED, AVG, 1, 2, 6, 33, 2, 2, 2, 2, 0, 0, false),  /* rows in place, odd */
    POOL(FILL_SEEDED, AVG, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true),    /* ceil = floor */
    POOL(FILL_SEEDED, AVG, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, false),
    POOL(FILL_SEEDED, AVG, 2, 2, 6, 5, 3, 2, 2, 1, 1, 0, false),
    POOL(FILL_SEEDED, AVG, 2, 4, 8, 8, 2, 2, 2, 2, 0, 0, false),
    POOL(FILL_SEEDED, AVG, 1, 3, 10, 7, 5, 3, 3, 2, 2, 1, false),
    POOL(FILL_SEEDED, AVG, 8, 16, 32, 32, 2, 2, 2, 2, 0, 0, false),
    /* a ceil window that starts in the right padding: divisor 1 */
    POOL(FILL_SEEDED, AVG, 1, 2, 5, 5, 2, 2, 2, 2, 1, 1, true),
    POOL(FILL_SEEDED, AVG, 1, 4, 11, 10, 5, 3, 3, 2, 2, 1, true),
    /* ceil windows hanging past the padding, on both axes and on each */
    POOL(FILL_SEEDED, AVG, 2, 3, 8, 10, 3, 3, 2, 2, 0, 0, true),
    POOL(FILL_SEEDED, AVG, 1, 2, 6, 8, 2, 3, 2, 2, 0, 1, true),
    POOL(FILL_SEEDED, AVG, 1, 2, 4, 6, 3, 2, 2, 2, 1, 0, true),
    /* disjoint windows: uncovered last row, stride > kernel with padding */
    POOL(FILL_SEEDED, AVG, 2, 3, 7, 7, 2, 2, 2, 2, 0, 0, false),
    POOL(FILL_SEEDED, AVG, 1, 3, 11, 10, 2, 3, 3, 4, 1, 1, true),
    /* adaptive average pool: n c h w p q */
    ADAPOOL(2, 3, 7, 5, 3, 2),
    ADAPOOL(2, 4, 14, 14, 1, 1), /* global */
    ADAPOOL(2, 3, 12, 8, 3, 2),  /* even windows */
    ADAPOOL(2, 3, 7, 7, 3, 3),   /* uneven windows */
    ADAPOOL(2, 3, 10, 9, 3, 4),  /* cells overlap */
    ADAPOOL(1, 2, 5, 4, 7, 6),   /* more cells than inputs */
    ADAPOOL(4, 16, 24, 24, 5, 3),
    ADAPOOL(4, 8, 14, 14, 7, 7), /* ResNet-style 2x2 */
    /* batch norm: n c h w eps momentum */
    BN(FILL_SEEDED, 4, 3, 5, 6, 1e-5, 0.1),
    BN(FILL_SEEDED, 2, 3, 1, 3, 1e-5, 0.1), /* m = 6: the unbiased variance is 6/5 */
    BN(FILL_SEEDED, 3, 2, 1, 1, 1e-5, 0.1), /* m = 3: 3/2 */
    BN(FILL_SEEDED, 3, 1, 5, 5, 1e-3, 1.0), /* C = 1, running statistics replaced */
    BN(FILL_SEEDED, 2, 16, 8, 8, 1e-5, 0.1),
    BN(FILL_SEEDED, 8, 32, 4, 4, 1e-5, 0.1),
    BN(FILL_SEEDED, 2, 8, 28, 28, 1e-5, 0.1),
    BN(FILL_SEEDED, 8, 16, 14, 14, 1e-5, 0.1),
    /* frozen statistics (eval-mode backward): running mean and variance in */
    BN(FILL_SEEDED, 8, 16, 14, 14, 1e-5, 0.1, .global_stats = true),
    BN(FILL_SEEDED, 4, 16, 1, 1, 1e-3, 0.1, .global_stats = true),
    /* linear: n in out bias */
    LINEAR(5, 37, 9, true),
    LINEAR(5, 37, 9, false),
    LINEAR(3, 37, 11, true),
    /* the BLAS backends' small-batch loops (cpu_linear.c) at their
     * largest batch and one above (sgemm): columns in 16s, 8s and a tail,
     * rows of w in 4s and 8s and a remainder */
    LINEAR(8, 53, 13, true),
    LINEAR(9, 40, 17, true),
    /* their batch-lane loops (cpu_linear_lanes.c), 9 to 32 rows: one and
     * two panels of 16, strips of 32 and 16 columns with a tail, rows of w
     * past the last whole tile of 12, 8, 6 and 4, a data-gradient panel of
     * 256 rows of w and a remainder */
    LINEAR(32, 70, 29, true),
    LINEAR(17, 1000, 300, false),
    LINEAR(24, 7, 5, true),
    LINEAR(7, 1000, 6, false),
    /* fewer columns than a vector, enough work for a team of threads */
    LINEAR(3, 5, 7000, true),
    LINEAR(1, 1, 1, true),
    LINEAR(2, 784, 10, true),
    LINEAR(33, 128, 10, false),
    LINEAR(16, 256, 128, true),
    LINEAR(64, 784, 256, true),
    LINEAR(128, 300, 300, true),
    /* element-wise */
    ACT(FILL_SPECIALS, RELU, 1),
    ACT(FILL_SPECIALS, RELU, 1000),
    ACT(FILL_SPECIALS, RELU, 1000003),
    ACT(FILL_SPECIALS, SIGMOID, 3),
    ACT(FILL_SPECIALS, SIGMOID, 1003),
    ACT(FILL_SPECIALS, SIGMOID, 1000003),
    /* dropout: count p seed; not a multiple of 4 reaches Philox's last block */
    DROPOUT(7, 0.0, 1),
    DROPOUT(9, 1.0, 2),
    DROPOUT(1003, 0.3, 3),
    DROPOUT(100002, 0.5, 4),
    DROPOUT(1000003, 0.25, 0x123456789abcdefull),
    ADD(1),
    ADD(3),
    ADD(100003),
    ADD(1000003),
    /* softmax + cross-entropy: n classes */
    XENT(FILL_FAR, 6, 11),
    XENT(FILL_FAR, 64, 1000),
    XENT(FILL_FAR, 16, 10),
    XENT(FILL_SEEDED, 37, 1000),
    XENT(FILL_SEEDED, 300, 3), /* more rows than a loss kernel's threads */
    /* concat: n h w count c[] */
    CONCAT(3, 5, 7, 3, 1, 4, 2),
    CONCAT(4, 64, 64, 3, 1, 4, 2),
    CONCAT(1, 3, 3, 1, 2),
    CONCAT(3, 1, 1, 2, 2, 5),
    CONCAT(2, 4, 6, 8, 1, 2, 3, 4, 5, 6, 7, 8),
    /* optimizer steps long enough for the threaded loops; at step 1 the
     * seeded state must be ignored */
    OPTIM(SGD, 100003, .lr = 0.1, .step = 1),
    OPTIM(SGD, 100003, .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4, .step = 1),
    OPTIM(SGD, 1000003, .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4, .step = 3),
    OPTIM(ADAM, 100003, .lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .step = 1,
          .weight_decay = 1e-2),
    OPTIM(ADAM, 1000003, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .step = 2),
};
const int bc_ncases = (int)(sizeof bc_cases / sizeof bc_cases[0]);

/* NaN inputs, which PyTorch propagates: a NaN wins its max-pool window and
 * relu and sigmoid pass it through; windows of -inf alone, whose gradient
 * PyTorch gives to the first element. Run for the backends that promise it
 * (own_checks below); oneDNN's max pooling and relu do not. */
static const bc_case nan_cases[] = {
    POOL(FILL_TIES_NAN, MAX, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true),
    POOL(FILL_TIES_NAN, MAX, 1, 2, 5, 601, 3, 3, 1, 2, 1, 1, true),
    POOL(FILL_TIES_NAN, MAX, 2, 3, 7, 7, 3, 3, 1, 1, 1, 1, true),
    POOL(FILL_TIES_NAN, MAX, 1, 2, 14, 13, 3, 3, 1, 1, 1, 1, false),
    POOL(FILL_NEG_INF, MAX, 2, 3, 7, 7, 3, 3, 1, 1, 1, 1, true), /* plane form */
    POOL(FILL_NEG_INF, MAX, 1, 2, 28, 28, 3, 3, 1, 1, 1, 1, true), /* its largest plane */
    POOL(FILL_TIES_NAN, MAX, 1, 2, 6, 11, 3, 3, 1, 1, 0, 0, false),  /* unpadded */
    POOL(FILL_NEG_INF, MAX, 2, 3, 7, 9, 3, 3, 2, 2, 1, 1, true), /* split rows */
    POOL(FILL_NEG_INF, MAX, 2, 3, 10, 11, 3, 3, 2, 2, 0, 0, true),
    POOL(FILL_TIES_NAN, MAX, 2, 3, 10, 11, 3, 3, 2, 2, 0, 0, true),
    POOL(FILL_NEG_INF, MAX, 1, 2, 5, 600, 3, 3, 2, 2, 1, 1, false), /* row form */
    POOL(FILL_NEG_INF, MAX, 1, 2, 5, 601, 3, 3, 1, 2, 1, 1, true),
    POOL(FILL_TIES_NAN, MAX, 2, 3, 7, 9, 2, 2, 2, 2, 0, 0, false), /* disjoint 2x2 */
    POOL(FILL_NEG_INF, MAX, 2, 3, 8, 10, 2, 2, 2, 2, 0, 0, false),
    ACT(FILL_SPECIALS_NAN, RELU, 100003),
    ACT(FILL_SPECIALS_NAN, SIGMOID, 1003),
};
static const int n_nan_cases = (int)(sizeof nan_cases / sizeof nan_cases[0]);

/* Full-size layers (--layers), whose many tiles take several chunks. */
static const bc_case big_layers[] = {
    BC_CONV(1, 3, 224, 224, 64, 3, 3, 1, 1, 1, 1, true),  /* VGG-16 conv1_1 */
    BC_CONV(2, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, true),   /* ResNet-18 conv2_x */
    BC_CONV(2, 256, 14, 14, 256, 3, 3, 1, 1, 1, 1, true), /* ResNet-18 conv4_x */
    BC_CONV(2, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1, true),   /* ResNet-18 conv5_x */
};

/* ---- the run through the verify machinery --------------------------------- */

static void apply_fill(vcase *c, bc_fill fill)
{
    float *x = c->host[VT_X];
    int64_t n = c->numel[VT_X];
    for (int64_t i = 0; i < n; i++) {
        switch (fill) {
        case FILL_TIES: x[i] = floorf(2.0f * x[i]); break;
        case FILL_TIES_NAN: x[i] = i % 17 == 3 ? NAN : floorf(2.0f * x[i]); break;
        case FILL_CONSTANT: x[i] = 1.0f; break;
        case FILL_NEG_INF: x[i] = i % 5 == 2 ? x[i] : -INFINITY; break;
        case FILL_SPECIALS:
        case FILL_SPECIALS_NAN: x[i] = i % 7 == 6 ? 0.0f : 6.0f * x[i]; break;
        case FILL_FAR: x[i] *= 20.0f; break;
        case FILL_OFFSET: x[i] = 10.0f + 0.5f * (x[i] - 0.5f); break; /* from 0.5 + 2u */
        default: break;
        }
    }
    static const float specials[] = {1.5f, -0.0f, 0.0f, -100.0f, 100.0f};
    for (int64_t i = 0; (fill == FILL_SPECIALS || fill == FILL_SPECIALS_NAN) && i < n && i < 5; i++)
        x[i] = specials[i];
    for (int64_t i = 5; fill == FILL_SPECIALS_NAN && i < n; i += 997)
        x[i] = NAN;
    static const float far[] = {1000.0f, -1000.0f, 999.0f};
    for (int64_t i = 0; fill == FILL_FAR && i < n && i < 3; i++)
        x[i] = far[i];
}

/* bc_verify on several backends at once, the reference computed once. */
static void verify_on(const cnn_backend *const *bes, int nb, const char *what, const bc_case *cases,
                      int n, const bc_how *how)
{
    verify_run run = {.seed = BC_SEED, .threads = how ? how->threads : 0, .quiet = true};
    for (int b = 0; b < nb; b++)
        run.backends[run.nbackends++] = bes[b];
    cnn_status st = verify_run_open(&run, NULL);
    for (int b = 0; b < nb && st == CNN_OK; b++) {
        if (!run.ctx[b])
            st = cnn_fail(CNN_ERR_UNSUPPORTED, "%s: %s", bes[b]->name, run.why[b]);
        else if (how && how->setup)
            st = how->setup(run.ctx[b]);
    }
    for (int i = 0; i < n && st == CNN_OK; i++) {
        cnn_op op = cases[i].op;
        vcase c;
        st = cnn_op_init(&op);
        if (st == CNN_OK)
            st = vcase_init(&c, &op, BC_SEED + (uint64_t)i);
        if (st != CNN_OK)
            break;
        apply_fill(&c, cases[i].fill);
        st = verify_run_case(&run, &c);
        for (int b = 0; b < nb && st == CNN_OK && how && how->each; b++)
            how->each(run.ctx[b], &c);
        vcase_free(&c);
    }
    TU_CHECK(st == CNN_OK, "%s: %s", what, cnn_last_error());
    for (int b = 0; b < nb; b++) {
        const verify_tally *t = &run.tally[b];
        const char *name = bes[b]->name;
        TU_CHECK(t->fail == 0 && t->mistrusted == 0, "%s %s: %d FAIL, %d MISTRUSTED (rows above)",
                 name, what, t->fail, t->mistrusted);
        TU_CHECK(t->pass > 0, "%s %s: nothing passed", name, what);
        printf("%s, %s: %d PASS, %d FAIL, %d MISTRUSTED, %d SKIPPED\n", name, what, t->pass,
               t->fail, t->mistrusted, t->skip);
        if (t->worst[0])
            printf("  closest to its tolerance: %s\n", t->worst);
    }
    verify_run_close(&run, false);
}

void bc_verify(const cnn_backend *be, const char *what, const bc_case *cases, int n,
               const bc_how *how)
{
    verify_on(&be, 1, what, cases, n, how);
}

/* ---- driver ----------------------------------------------------------------- */

/* Each backend's own checks, and whether it propagates NaN as PyTorch does. */
static const struct {
    const char *name;
    void (*check)(const cnn_backend *be, cnn_ctx *ctx);
    bool nan;
} own_checks[] = {
#ifdef CNN_HAVE_IM2COL
    {"im2col", bc_check_im2col, true},
#endif
#ifdef CNN_HAVE_WINOGRAD
    {"winograd", bc_check_winograd, true},
    {"winograd_f2x3", bc_check_winograd, true},
    {"winograd_f4x3", bc_check_winograd, true},
#endif
#ifdef CNN_HAVE_ONEDNN
    {"onednn", bc_check_onednn, false},
#endif
    {"cudnn", NULL, true},
    {NULL, NULL, false},
};

static void check_backend(const cnn_backend *be, cnn_ctx *ctx, cnn_ctx *naive)
{
    cnn_op *ops = NULL;
    int n = 0;
    TU_EXPECT_OK(verify_shapes("quick", &ops, &n));
    bc_case *quick = tu_xmalloc((size_t)n * sizeof *quick);
    for (int i = 0; i < n; i++)
        quick[i] = (bc_case){ops[i], FILL_SEEDED};
    bc_verify(be, "verify's quick shapes", quick, n, NULL);
    /* coverage: the quick shapes and the corner cases (eval-mode batch norm
     * among both) */
    bc_case *probes = tu_xmalloc((size_t)(n + bc_ncases) * sizeof *probes);
    memcpy(probes, quick, (size_t)n * sizeof *probes);
    memcpy(probes + n, bc_cases, (size_t)bc_ncases * sizeof *probes);
    bc_check_coverage(ctx, probes, n + bc_ncases);
    free(probes);
    free(quick);
    free(ops);
    bc_verify(be, "corner cases", bc_cases, bc_ncases, &(bc_how){.each = bc_case_checks});
    bc_check_bad_labels(ctx, naive);
    bc_check_dropout_rate(ctx, naive, 1003, 0.3);
    bc_check_dropout_rate(ctx, naive, 100002, 0.5);
    bc_check_concat_round_trip(ctx, naive);
    bc_check_linear_without_db(ctx, naive);
    bc_check_optim_steps(ctx, naive);
    for (int i = 0; own_checks[i].name; i++) {
        if (strcmp(own_checks[i].name, be->name))
            continue;
        if (own_checks[i].nan)
            bc_verify(be, "NaN inputs", nan_cases, n_nan_cases, NULL);
        if (own_checks[i].check)
            own_checks[i].check(be, ctx);
    }
}

int main(int argc, char **argv)
{
    const char *list = NULL;
    bool layers = false;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--backends") || !strcmp(argv[i], "--backend")) && i + 1 < argc)
            list = argv[++i];
        else if (!strcmp(argv[i], "--layers"))
            layers = true;
        else {
            fprintf(stderr, "usage: test_backends [--backends LIST] [--layers]\n");
            return 2;
        }
    }
    char names[512], item[64];
    cnn_backend_names(names, sizeof names);
    for (const char *p = list; p && cli_next_item(&p, item, sizeof item);)
        if (!cnn_backend_find(item)) {
            fprintf(stderr, "test_backends: unknown backend '%s'; built: %s\n", item, names);
            return 2;
        }
    cnn_ctx *naive = NULL;
    TU_EXPECT_OK(cnn_ctx_create(cnn_backend_find("naive"), NULL, &naive));
    const cnn_backend *usable[VERIFY_MAX_BACKENDS];
    int ran = 0, unusable = 0;
    for (int i = 0; naive && i < cnn_backend_count() && ran < VERIFY_MAX_BACKENDS; i++) {
        const cnn_backend *be = cnn_backend_at(i);
        if (list ? !cli_in_list(list, be->name) : !strcmp(be->name, "naive"))
            continue;
        char why[256] = "";
        cnn_ctx *ctx = NULL;
        if (!cnn_backend_available(be, why, sizeof why)) {
            bc_check_unavailable(be, why);
            unusable++;
            continue;
        }
        usable[ran++] = be;
        if (layers)
            continue;
        TU_EXPECT_OK(cnn_ctx_create(be, NULL, &ctx));
        if (ctx)
            check_backend(be, ctx, naive);
        cnn_ctx_destroy(ctx);
    }
    /* the slow layers on every backend at once: one reference run */
    if (layers && ran)
        verify_on(usable, ran, "full-size layers", big_layers, 4, NULL);
    cnn_ctx_destroy(naive);
    if (!ran && unusable && !tu_failures) {
        printf("test_backends: no selected backend can run here; skipped\n");
        return 77;
    }
    return tu_finish("test_backends");
}
