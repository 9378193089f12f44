/* test_backends: the im2col backend's own checks.
 *
 * Convolutions shaped to reach each code path (1x1 with and without the
 * GEMM-only shortcut, 1x1 strided through a subsample, the strided
 * lowering through column phases, batched GEMMs, per-tap GEMMs forward and
 * for the data gradient (the adjoint conv), output-row tiling,
 * batch chunking, a single row wider than the workspace cap), through the
 * verify machinery on a default context and on one whose workspace cap is
 * 64 KiB, once with OpenBLAS at its default thread count and once at one;
 * the plans those contexts chose (a case that silently took another path
 * would leave that path untested); the default cap on VGG-16's largest
 * lowerings; the cap refused on a context of another backend; and batch
 * norm on inputs far from zero mean. Where the GEMM team has two threads or
 * more, a batch of at least that many images runs on threads over images
 * (each on a share of the batch, im2col_plan.c): the cases run again on
 * one-thread contexts, whose plans are the caller's own. */
#include <cblas.h>
#include <string.h>

#include "backend_checks.h"
#include "cpu_parallel.h"
#include "im2col.h"
#include "registry.h"
#include "test_util.h"

/* Small enough that the tiling cases below tile, large enough that their
 * batched case takes three images per GEMM. */
#define TINY_CAP ((size_t)64 << 10)

static const bc_case conv_cases[] = {
    BC_CONV(2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, true),     /* odd, non-square */
    BC_CONV(3, 5, 11, 6, 7, 3, 2, 2, 1, 1, 0, true),    /* rectangular kernel and stride */
    BC_CONV(2, 3, 35, 35, 8, 11, 11, 4, 4, 2, 2, true), /* 11x11 stride 4 (AlexNet conv1) */
    BC_CONV(2, 4, 13, 13, 6, 5, 5, 3, 3, 3, 3, true),   /* stride 3, padding 3 */
    BC_CONV(1, 1, 9, 9, 1, 3, 3, 1, 1, 1, 1, true),     /* C = K = 1 */
    BC_CONV(2, 8, 40, 40, 6, 1, 1, 1, 1, 0, 0, true),   /* 1x1: sgemm alone */
    BC_CONV(4, 8, 10, 10, 16, 1, 1, 1, 1, 0, 0, false), /* 1x1, small weights: sgemm alone */
    BC_CONV(4, 128, 3, 3, 128, 1, 1, 1, 1, 0, 0, true), /* 1x1, large weights: batched */
    BC_CONV(2, 6, 9, 9, 10, 1, 1, 2, 2, 0, 0, true),    /* 1x1 stride 2 (downsample) */
    BC_CONV(2, 3, 5, 5, 4, 1, 1, 1, 1, 1, 1, true),     /* 1x1 with padding */
    BC_CONV(1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2, true),     /* kernel larger than the input */
    BC_CONV(2, 3, 10, 10, 4, 2, 2, 3, 3, 0, 0, false),  /* stride > kernel: untouched inputs */
    BC_CONV(8, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, true), /* VGG-like, batched */
    BC_CONV(1, 4, 41, 40, 5, 3, 3, 1, 1, 1, 1, true),   /* row tiles under TINY_CAP */
    BC_CONV(1, 3, 37, 29, 4, 5, 5, 2, 2, 2, 2, true),   /* row tiles, windows overlap tiles */
    BC_CONV(7, 12, 7, 6, 8, 3, 3, 1, 1, 1, 1, true),    /* chunks of 3 under TINY_CAP */
    BC_CONV(1, 16, 4, 300, 2, 3, 3, 1, 1, 1, 1, false), /* one row exceeds TINY_CAP */
    BC_CONV(2, 32, 34, 40, 8, 3, 3, 1, 1, 1, 1, true),  /* per-tap GEMMs; tiles under TINY_CAP */
    BC_CONV(1, 33, 20, 70, 5, 3, 5, 1, 1, 1, 2, false), /* per tap, rectangular kernel */
    BC_CONV(2, 32, 12, 40, 4, 3, 3, 1, 1, 0, 0, true),  /* per tap, no padding */
    BC_CONV(1, 32, 9, 36, 3, 2, 2, 1, 1, 2, 2, true),   /* per tap, padding wider than the kernel */
    BC_CONV(3, 5, 9, 7, 6, 1, 1, 2, 2, 0, 0, true),     /* 1x1 stride 2, odd sizes: subsampled */
    BC_CONV(2, 4, 10, 11, 3, 1, 1, 3, 2, 0, 0, false),  /* 1x1, unequal strides, dropped edges */
    BC_CONV(1, 6, 13, 11, 5, 1, 1, 2, 2, 0, 0, true),   /* 1x1 stride 2, one image: per image */
    BC_CONV(4, 64, 7, 7, 128, 1, 1, 2, 2, 0, 0, true),  /* 1x1 stride 2, batched subsample */
    BC_CONV(2, 3, 6, 5, 4, 1, 1, 2, 2, 1, 1, true),     /* 1x1 stride 2 with padding */
    BC_CONV(2, 3, 23, 19, 8, 7, 7, 2, 2, 3, 3, true),   /* 7x7 stride 2 stem, odd input */
    BC_CONV(1, 2, 8, 9, 3, 3, 4, 1, 2, 0, 2, false),    /* kernel 2x the stride, unequal strides */
    BC_CONV(2, 3, 9, 10, 4, 3, 3, 2, 2, 2, 2, true),    /* stride 2, padding past the kernel */
    BC_CONV(1, 1, 2, 4200, 2, 1, 3, 1, 2, 0, 1, false), /* rows too wide for the phases: gather */
    BC_CONV(2, 32, 12, 40, 32, 3, 3, 1, 1, 1, 1, true), /* data gradient as the adjoint's taps */
    BC_CONV(2, 32, 10, 36, 40, 3, 3, 1, 1, 0, 0, false), /* adjoint of an unpadded conv */
    BC_CONV(1, 34, 9, 70, 33, 3, 5, 1, 1, 2, 1, true), /* adjoint, rectangular kernel and padding */
    BC_CONV(2, 3, 8, 40, 32, 3, 3, 1, 1, 1, 1, true),  /* C = 3: col2im, not the adjoint */
};
#define NCONV ((int)(sizeof conv_cases / sizeof conv_cases[0]))

/* Batch norm of inputs with mean 10 and spread 0.6: computing (x - mean)
 * late would cancel. (The harness's tolerance assumes verify's inputs, of
 * mean 0.5; backends that round the mean of such inputs in float, as oneDNN
 * does, lose |mean| / spread times more and are not held to it here.) */
// clang-format off
#define BN_OFFSET(n, c, h, w) {{.kind = CNN_OP_BN, .bn = {n, c, h, w, 1e-5, 0.1}}, FILL_OFFSET}
// clang-format on
static const bc_case bn_cases[] = {
    BN_OFFSET(4, 3, 5, 6),
    BN_OFFSET(1, 5, 2, 2),
    BN_OFFSET(8, 16, 7, 7),
    BN_OFFSET(4, 8, 32, 32),
};

/* The one use of im2col's own interface (impl_im2col/im2col.h). */
static cnn_status set_tiny_cap(cnn_ctx *ctx)
{
    return cnn_im2col_set_workspace_cap(ctx, TINY_CAP);
}

#define TEAM_SUFFIX ", threads over images"

/* A plan's name without the team's suffix (after checking that the suffix
 * is there exactly when the context runs this conv on a team), in buf. */
static const char *plan_name(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, char *buf, size_t size)
{
    const char *name = cnn_algorithm(ctx, op, pass);
    const int team = cnn_cpu_gemm_team(ctx);
    const bool want = team > 1 && op->conv.n >= team;
    const size_t len = strlen(name), suffix = strlen(TEAM_SUFFIX);
    const bool has = len > suffix && strcmp(name + len - suffix, TEAM_SUFFIX) == 0;
    TU_CHECK(has == want, "%s of n = %d on a GEMM team of %d: %s", cnn_pass_str(pass), op->conv.n,
             team, name);
    snprintf(buf, size, "%.*s", (int)(has ? len - suffix : len), name);
    return buf;
}

/* What the contexts must have planned for the cases built to tile, chunk,
 * overflow the cap or take a GEMM shortcut. */
static void check_plan(cnn_ctx *fast, cnn_ctx *tiny, const cnn_op *op)
{
    const cnn_conv_desc *d = &op->conv;
    char fwd_buf[96], fast_fwd_buf[96], fast_bwd_buf[96];
    const char *fwd = plan_name(tiny, op, CNN_FWD, fwd_buf, sizeof fwd_buf);
    size_t ws = cnn_workspace_size(tiny, op, CNN_FWD);
    /* (the workspace's buffers start on 64-byte boundaries) */
    size_t one_row = (sizeof(float) * (size_t)d->c * d->r * d->s * d->q + 63) / 64 * 64;
    TU_CHECK(ws <= TINY_CAP || ws == one_row, "workspace %zu exceeds cap %zu", ws, TINY_CAP);
    if (d->n == 1 && d->h >= 37)
        TU_CHECK(strstr(fwd, "row tiles") != NULL, "expected row tiles, got %s", fwd);
    if (d->n == 7)
        TU_CHECK(strstr(fwd, "batched") != NULL, "expected batches, got %s", fwd);
    if (d->w == 300)
        TU_CHECK(ws == one_row, "one row needs %zu bytes, asked %zu", one_row, ws);
    const bool stride1 = d->stride_h == 1 && d->stride_w == 1;
    const bool one = d->r == 1 && d->s == 1 && d->pad_h == 0 && d->pad_w == 0;
    const bool pointwise = one && stride1;
    const char *fast_fwd = plan_name(fast, op, CNN_FWD, fast_fwd_buf, sizeof fast_fwd_buf);
    const char *fast_bwd = plan_name(fast, op, CNN_BWD_DATA, fast_bwd_buf, sizeof fast_bwd_buf);
    if (pointwise && d->c < 128)
        TU_CHECK(strcmp(fast_fwd, "gemm 1x1") == 0 && cnn_workspace_size(fast, op, CNN_FWD) == 0,
                 "1x1 conv with small weights should be a GEMM alone, got %s", fast_fwd);
    if (pointwise && d->c >= 128)
        TU_CHECK(strcmp(fast_fwd, "gemm 1x1 (batched)") == 0, "expected batches, got %s", fast_fwd);
    if (one && !stride1) {
        TU_CHECK(strncmp(fast_fwd, "gemm 1x1 subsampled", 19) == 0 &&
                     strncmp(fast_bwd, "gemm 1x1 scattered", 18) == 0,
                 "strided 1x1 conv: expected a subsample, got %s / %s", fast_fwd, fast_bwd);
        /* a team member's smallest share of the batch */
        const int team = cnn_cpu_gemm_team(fast);
        const int share = team > 1 && d->n >= team ? d->n / team : d->n;
        TU_CHECK((strstr(fast_fwd, "batched") != NULL) == (share > 1),
                 "small strided 1x1 convs batch their images, got %s", fast_fwd);
    }
    const int crs = d->c * d->r * d->s;
    if (d->n == 1 && crs <= 256 && !one && !(stride1 && d->c >= 32))
        TU_CHECK(strcmp(fast_fwd, "im2col+sgemm (staged row tiles)") == 0,
                 "a short column (C*R*S = %d) should stage its output, got %s", crs, fast_fwd);
    if (d->r == 1 && d->s == 1 && !one)
        TU_CHECK(strncmp(fast_fwd, "im2col", 6) == 0, "padded 1x1 conv is lowered, got %s",
                 fast_fwd);
    if (stride1 && d->c >= 32 && d->r * d->s > 1) {
        TU_CHECK(strcmp(fast_fwd, "sgemm per tap") == 0, "expected per-tap GEMMs, got %s",
                 fast_fwd);
        TU_CHECK(strcmp(fwd, "sgemm per tap") == 0 || d->h < 34,
                 "expected per-tap GEMMs under the small cap, got %s", fwd);
    }
    /* The adjoint's input channels are K, its outputs C, its width W. */
    const bool adjoint = stride1 && d->pad_h < d->r && d->pad_w < d->s && d->c >= 32;
    if (adjoint && d->k >= 32 && d->r * d->s > 1 && d->w >= 16 * (d->s - 1))
        TU_CHECK(strcmp(fast_bwd, "sgemm per tap (adjoint conv)") == 0,
                 "expected the data gradient as per-tap GEMMs, got %s", fast_bwd);
    if (!adjoint || d->k < 32)
        TU_CHECK(strstr(fast_bwd, "per tap") == NULL, "no adjoint per-tap path here, got %s",
                 fast_bwd);
}

/* VGG-16's conv1_2 lowers to 115 MB per image and conv4_2 would like four
 * images per GEMM: the default cap must hold both to 32 MiB. */
static void check_default_cap(cnn_ctx *fast)
{
    const bc_case vgg[] = {
        BC_CONV(4, 64, 224, 224, 64, 3, 3, 1, 1, 1, 1, true),
        BC_CONV(4, 512, 28, 28, 512, 3, 3, 1, 1, 1, 1, true),
    };
    static const cnn_pass passes[] = {CNN_FWD, CNN_BWD_DATA, CNN_BWD_WEIGHT};
    for (int i = 0; i < 2; i++) {
        cnn_op op = vgg[i].op;
        TU_EXPECT_OK(cnn_op_init(&op));
        for (int j = 0; j < 3; j++) {
            size_t ws = cnn_workspace_size(fast, &op, passes[j]);
            TU_CHECK(ws > 0 && ws <= CNN_IM2COL_DEFAULT_WS_CAP, "VGG layer %d %s workspace %zu", i,
                     cnn_pass_str(passes[j]), ws);
        }
    }
}

void bc_check_im2col(const cnn_backend *be, cnn_ctx *fast)
{
    cnn_ctx *tiny = NULL, *naive = NULL;
    /* one thread: the cap's plans below are the caller's own, not a team's */
    TU_EXPECT_OK(cnn_ctx_create(be, &(cnn_ctx_opts){.threads = 1}, &tiny));
    TU_EXPECT_OK(cnn_ctx_create(cnn_backend_find("naive"), NULL, &naive));
    if (!tiny || !naive)
        return;
    TU_EXPECT_OK(set_tiny_cap(tiny));
    TU_CHECK(set_tiny_cap(naive) == CNN_ERR_INVALID_ARG,
             "the cap of a non-im2col context must be refused");
    for (int i = 0; i < NCONV; i++) {
        cnn_op op = conv_cases[i].op;
        TU_EXPECT_OK(cnn_op_init(&op));
        check_plan(fast, tiny, &op);
    }
    check_default_cap(fast);
    bc_verify(be, "batch norm of mean 10", bn_cases, 4, NULL);

    /* Twice, with OpenBLAS at its default thread count and at one, so that
     * the loops between a convolution's GEMMs run both on the calling thread
     * and on an OpenMP team (cnn_im2col_tile_threads): with a pthreads
     * OpenBLAS they get a team only in the second pass; with the OpenMP
     * build, whose thread count is OpenMP's own, only in the first. The
     * contexts have threads = 0, so they leave the setting alone. */
    const int blas_threads = openblas_get_num_threads();
    for (int pass = 0; pass < 2; pass++) {
        openblas_set_num_threads(pass ? 1 : blas_threads);
        bc_verify(be, pass ? "code-path convolutions [1 BLAS thread]" : "code-path convolutions",
                  conv_cases, NCONV, NULL);
        bc_verify(be,
                  pass ? "code-path convolutions, 64 KiB cap [1 BLAS thread]"
                       : "code-path convolutions, 64 KiB cap",
                  conv_cases, NCONV, &(bc_how){.setup = set_tiny_cap});
    }
    openblas_set_num_threads(blas_threads);
    /* The caller's plans for every batch: no team on one thread. */
    bc_verify(be, "code-path convolutions [1 thread]", conv_cases, NCONV, &(bc_how){.threads = 1});
    bc_verify(be, "code-path convolutions, 64 KiB cap [1 thread]", conv_cases, NCONV,
              &(bc_how){.threads = 1, .setup = set_tiny_cap});
    cnn_ctx_destroy(tiny);
    cnn_ctx_destroy(naive);
}
