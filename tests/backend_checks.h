/* What test_backends.c shares with the per-backend checks
 * (backend_checks_<name>.c): the case table type, the run of cases through
 * the verify machinery, and each backend's own check function. */
#ifndef CNN_BACKEND_CHECKS_H
#define CNN_BACKEND_CHECKS_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "verify.h"

/* How a case's inputs differ from vcase_init's seeded ones. */
typedef enum bc_fill {
    FILL_SEEDED,       /* vcase_init's: uniform, distinct for max pooling */
    FILL_TIES,         /* x of four values: ties decide where max pooling routes */
    FILL_TIES_NAN,     /* ties, and a NaN every 17 elements, which must win its window */
    FILL_CONSTANT,     /* x all 1: every window tied */
    FILL_NEG_INF,      /* x -inf but one in 5: an all -inf window routes to its first */
    FILL_SPECIALS,     /* x in [-6, 6) with -0, 0, +-100, a 0 every 7 */
    FILL_SPECIALS_NAN, /* the same and NaN, which must come out NaN */
    FILL_FAR,          /* logits in [-80, 80) and 1000, -1000, 999: softmax must not overflow */
    FILL_OFFSET,       /* batch-norm x of mean 10, spread 0.6: (x - mean) must not be late */
} bc_fill;

typedef struct bc_case {
    cnn_op op; /* cnn_op_init'd by bc_verify */
    bc_fill fill;
} bc_case;

/* A conv case in one line: n c h w k r s stride_h stride_w pad_h pad_w bias. */
// clang-format off
#define BC_CONV(...) {{.kind = CNN_OP_CONV, .conv = {__VA_ARGS__}}, FILL_SEEDED}
// clang-format on

/* How bc_verify runs: the context's threads, a change to the context
 * before the cases (NULL: none), a check after each case's verify rows
 * with the case's reference in place (NULL: none). */
typedef struct bc_how {
    int threads;
    cnn_status (*setup)(cnn_ctx *ctx);
    void (*each)(cnn_ctx *ctx, const vcase *c);
} bc_how;

/* Run the cases through the verify machinery (vcase_init, the fill, the
 * naive reference, every pass on a new context of `be`, judged by the
 * harness's tolerances and zero-trust rule): every pass the backend
 * supports must PASS, the rest are counted as skipped. how may be NULL.
 * `what` names the sub-case in the output. */
void bc_verify(const cnn_backend *be, const char *what, const bc_case *cases, int n,
               const bc_how *how);

/* The seed of the cases (case i gets BC_SEED + i). */
#define BC_SEED 7

/* ---- checks every backend must meet (backend_checks_common.c) ---- */

/* On a case whose reference is in place (a bc_how.each): a declined pass
 * is refused by the dispatch, a workspace one byte short is refused, the
 * workspace size is stable, and a rerun with a workspace of exactly that
 * size (malloc'd, on a host backend) gives the same bits unless the
 * algorithm says it is nondeterministic. */
void bc_case_checks(cnn_ctx *ctx, const vcase *c);
/* A label out of range: refused by a host backend, poisoning the loss and
 * its row's gradient on a device backend (which cannot report it without
 * a sync). */
void bc_check_bad_labels(cnn_ctx *ctx, cnn_ctx *naive);
/* dropout keeps 1 - p of its inputs, within 5 sigma. */
void bc_check_dropout_rate(cnn_ctx *ctx, cnn_ctx *naive, int64_t count, double p);
/* concat's backward of its own forward gives the inputs back, bitwise. */
void bc_check_concat_round_trip(cnn_ctx *ctx, cnn_ctx *naive);
/* linear's dw is the same whether or not db is asked for. */
void bc_check_linear_without_db(cnn_ctx *ctx, cnn_ctx *naive);
/* Optimizer steps in a row (backend_checks_optim.c): param and state
 * agree with the reference after each of five steps, the state carried
 * from one to the next and NaN before the first. */
void bc_check_optim_steps(cnn_ctx *ctx, cnn_ctx *naive);
/* A backend not usable here gives a reason and refuses a context. */
void bc_check_unavailable(const cnn_backend *be, const char *why);
/* The coverage entry agrees with supports() over the cases: a kind and pass
 * that declines any case is partial, one that is partial declines one of
 * them (where there are cases of it), and a pass whose algorithm says it is
 * delegated says so in its note. */
void bc_check_coverage(cnn_ctx *ctx, const bc_case *cases, int n);

/* The shared corner cases of test_backends.c. */
extern const bc_case bc_cases[];
extern const int bc_ncases;

/* ---- each backend's own checks; ctx is a default context of it ---- */
void bc_check_im2col(const cnn_backend *be, cnn_ctx *ctx);
void bc_check_onednn(const cnn_backend *be, cnn_ctx *ctx);
void bc_check_winograd(const cnn_backend *be, cnn_ctx *ctx);

#endif
