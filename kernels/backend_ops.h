/* The operation entries of the backend table, written once.
 *
 * Every other list of them is generated from this one: the fields of
 * cnn_backend and their function types (backend.h), the checked calls
 * cnn_<entry>() (dispatch.h, dispatch.c), cnn_backend_implements()
 * (backend.c), cnn_op_has_pass() (ops.c), and each backend's prototypes and
 * table initialisers (CNN_ENTRY_DECL, CNN_ENTRY_INIT in backend.h). How to
 * add an entry: backend.h, top.
 *
 * One row per entry, that is, per pass of an operation kind:
 *
 *   X(ARG, ENTRY, KIND, DESC, PASS, WS, PARAMS, ARGS)
 *
 *   ENTRY   the field of cnn_backend; cnn_ENTRY is its checked call
 *   KIND    the cnn_op_kind; DESC its descriptor, the member of cnn_op that
 *           holds a cnn_DESC_desc
 *   PASS    the cnn_pass it computes (each kind and pass has one entry)
 *   WS      HAS_WS: the caller's workspace comes last (void *ws, size_t
 *           ws_size); NO_WS: none
 *   PARAMS  the parameters between (cnn_ctx *ctx, const cnn_DESC_desc *d)
 *           and the workspace; ARGS their names
 *   ARG     passed to X as it is (a backend's name prefix, say)
 *
 * Rows are grouped by kind, CNN_OPS_<KIND>(X, ARG), so that a backend that
 * implements whole kinds can name just those; CNN_BACKEND_OPS(X, ARG) is every
 * row, in the order of the table. Layouts are those of kernels/ops.h. */
#ifndef CNN_BACKEND_OPS_H
#define CNN_BACKEND_OPS_H

/* convolution: x [n][c][h][w], w [k][c][r][s], b [k], y [n][k][p][q];
 * conv_bwd_bias reads y and writes dz [n][k][p][q] only with d->fuse_relu
 * (kernels/ops.h, "Fused ReLU") */
#define CNN_OPS_CONV(X, ARG)                                                                       \
    X(ARG, conv_fwd, CNN_OP_CONV, conv, CNN_FWD, HAS_WS,                                           \
      (const float *x, const float *w, const float *b, float *y), (x, w, b, y))                    \
    X(ARG, conv_bwd_data, CNN_OP_CONV, conv, CNN_BWD_DATA, HAS_WS,                                 \
      (const float *dy, const float *w, float *dx), (dy, w, dx))                                   \
    X(ARG, conv_bwd_filter, CNN_OP_CONV, conv, CNN_BWD_WEIGHT, HAS_WS,                             \
      (const float *x, const float *dy, float *dw), (x, dy, dw))                                   \
    X(ARG, conv_bwd_bias, CNN_OP_CONV, conv, CNN_BWD_BIAS, HAS_WS,                                 \
      (const float *y, const float *dy, float *db, float *dz), (y, dy, db, dz))

/* pooling */
#define CNN_OPS_POOL(X, ARG)                                                                       \
    X(ARG, pool_fwd, CNN_OP_POOL, pool, CNN_FWD, HAS_WS, (const float *x, float *y), (x, y))       \
    X(ARG, pool_bwd, CNN_OP_POOL, pool, CNN_BWD_DATA, HAS_WS,                                      \
      (const float *x, const float *y, const float *dy, float *dx), (x, y, dy, dx))

#define CNN_OPS_ADAPOOL(X, ARG)                                                                    \
    X(ARG, adapool_fwd, CNN_OP_ADAPOOL, adapool, CNN_FWD, HAS_WS, (const float *x, float *y),      \
      (x, y))                                                                                      \
    X(ARG, adapool_bwd, CNN_OP_ADAPOOL, adapool, CNN_BWD_DATA, HAS_WS,                             \
      (const float *dy, float *dx), (dy, dx))

/* batch norm: gamma, beta, running_*, save_* are [c]; running_mean and
 * running_var are read and updated in place by bn_fwd_train. bn_bwd's mean
 * and invstd_or_var are the training forward's save_mean and save_invstd;
 * with d->global_stats (frozen statistics, eval-mode gradients) they are
 * running_mean and running_var, and the backend takes 1/sqrt(running_var +
 * eps) itself, so a caller needs no pass of its own to prepare them. */
#define CNN_OPS_BN(X, ARG)                                                                         \
    X(ARG, bn_fwd_train, CNN_OP_BN, bn, CNN_FWD, HAS_WS,                                           \
      (const float *x, const float *gamma, const float *beta, float *y, float *running_mean,       \
       float *running_var, float *save_mean, float *save_invstd),                                  \
      (x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd))                      \
    X(ARG, bn_fwd_infer, CNN_OP_BN, bn, CNN_FWD_INFER, HAS_WS,                                     \
      (const float *x, const float *gamma, const float *beta, const float *running_mean,           \
       const float *running_var, float *y),                                                        \
      (x, gamma, beta, running_mean, running_var, y))                                              \
    X(ARG, bn_bwd, CNN_OP_BN, bn, CNN_BWD_DATA, HAS_WS,                                            \
      (const float *x, const float *y, const float *dy, const float *gamma, const float *mean,     \
       const float *invstd_or_var, float *dx, float *dgamma, float *dbeta),                        \
      (x, y, dy, gamma, mean, invstd_or_var, dx, dgamma, dbeta))

/* linear: x [n][in], w [out][in], b [out], y [n][out]; in linear_bwd_weight
 * db may be NULL (no bias) */
#define CNN_OPS_LINEAR(X, ARG)                                                                     \
    X(ARG, linear_fwd, CNN_OP_LINEAR, linear, CNN_FWD, HAS_WS,                                     \
      (const float *x, const float *w, const float *b, float *y), (x, w, b, y))                    \
    X(ARG, linear_bwd_data, CNN_OP_LINEAR, linear, CNN_BWD_DATA, HAS_WS,                           \
      (const float *dy, const float *w, float *dx), (dy, w, dx))                                   \
    X(ARG, linear_bwd_weight, CNN_OP_LINEAR, linear, CNN_BWD_WEIGHT, HAS_WS,                       \
      (const float *x, const float *dy, float *dw, float *db), (x, dy, dw, db))

/* element-wise */
#define CNN_OPS_ACT(X, ARG)                                                                        \
    X(ARG, act_fwd, CNN_OP_ACT, act, CNN_FWD, NO_WS, (const float *x, float *y), (x, y))           \
    X(ARG, act_bwd, CNN_OP_ACT, act, CNN_BWD_DATA, NO_WS,                                          \
      (const float *y, const float *dy, float *dx), (y, dy, dx))

#define CNN_OPS_DROPOUT(X, ARG)                                                                    \
    X(ARG, dropout_fwd, CNN_OP_DROPOUT, dropout, CNN_FWD, NO_WS, (const float *x, float *y),       \
      (x, y))                                                                                      \
    X(ARG, dropout_bwd, CNN_OP_DROPOUT, dropout, CNN_BWD_DATA, NO_WS,                              \
      (const float *dy, float *dx), (dy, dx))

#define CNN_OPS_ADD(X, ARG)                                                                        \
    X(ARG, add_fwd, CNN_OP_ADD, add, CNN_FWD, NO_WS, (const float *a, const float *b, float *y),   \
      (a, b, y))

/* loss: labels int32 [n]; prob [n][classes]; loss [1] */
#define CNN_OPS_XENT(X, ARG)                                                                       \
    X(ARG, xent_fwd, CNN_OP_XENT, xent, CNN_FWD, NO_WS,                                            \
      (const float *logits, const int32_t *labels, float *prob, float *loss),                      \
      (logits, labels, prob, loss))                                                                \
    X(ARG, xent_bwd, CNN_OP_XENT, xent, CNN_BWD_DATA, NO_WS,                                       \
      (const float *prob, const int32_t *labels, float *dlogits), (prob, labels, dlogits))

/* channel concat: xs[i] is [n][c[i]][h][w] */
#define CNN_OPS_CONCAT(X, ARG)                                                                     \
    X(ARG, concat_fwd, CNN_OP_CONCAT, concat, CNN_FWD, NO_WS, (const float *const *xs, float *y),  \
      (xs, y))                                                                                     \
    X(ARG, concat_bwd, CNN_OP_CONCAT, concat, CNN_BWD_DATA, NO_WS,                                 \
      (const float *dy, float *const *dxs), (dy, dxs))

/* optimizer step, in place: param and grad [count], state
 * [cnn_optim_state_count] (NULL when that is 0) */
#define CNN_OPS_OPTIM(X, ARG)                                                                      \
    X(ARG, optim_step, CNN_OP_OPTIM, optim, CNN_FWD, NO_WS,                                        \
      (float *param, const float *grad, float *state), (param, grad, state))

/* clang-format off */
#define CNN_BACKEND_OPS(X, ARG)                                                                    \
    CNN_OPS_CONV(X, ARG)                                                                           \
    CNN_OPS_POOL(X, ARG)                                                                           \
    CNN_OPS_ADAPOOL(X, ARG)                                                                        \
    CNN_OPS_BN(X, ARG)                                                                             \
    CNN_OPS_LINEAR(X, ARG)                                                                         \
    CNN_OPS_ACT(X, ARG)                                                                            \
    CNN_OPS_DROPOUT(X, ARG)                                                                        \
    CNN_OPS_ADD(X, ARG)                                                                            \
    CNN_OPS_XENT(X, ARG)                                                                           \
    CNN_OPS_CONCAT(X, ARG)                                                                         \
    CNN_OPS_OPTIM(X, ARG)
/* clang-format on */

#endif
