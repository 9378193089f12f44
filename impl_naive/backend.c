/* The reference backend's table. It runs everywhere and implements every
 * entry; no state, no workspace. */
#include "naive.h"

const cnn_backend cnn_backend_naive = {
    .name = "naive",
    .about = "reference: direct loops, double accumulation, deterministic for any thread count",
    .device = CNN_DEVICE_HOST,

    .conv_fwd = cnn_naive_conv_fwd,
    .conv_bwd_data = cnn_naive_conv_bwd_data,
    .conv_bwd_filter = cnn_naive_conv_bwd_filter,
    .conv_bwd_bias = cnn_naive_conv_bwd_bias,

    .pool_fwd = cnn_naive_pool_fwd,
    .pool_bwd = cnn_naive_pool_bwd,
    .adapool_fwd = cnn_naive_adapool_fwd,
    .adapool_bwd = cnn_naive_adapool_bwd,

    .bn_fwd_train = cnn_naive_bn_fwd_train,
    .bn_fwd_infer = cnn_naive_bn_fwd_infer,
    .bn_bwd = cnn_naive_bn_bwd,

    .linear_fwd = cnn_naive_linear_fwd,
    .linear_bwd_data = cnn_naive_linear_bwd_data,
    .linear_bwd_weight = cnn_naive_linear_bwd_weight,

    .act_fwd = cnn_naive_act_fwd,
    .act_bwd = cnn_naive_act_bwd,
    .dropout_fwd = cnn_naive_dropout_fwd,
    .dropout_bwd = cnn_naive_dropout_bwd,
    .add_fwd = cnn_naive_add_fwd,

    .xent_fwd = cnn_naive_xent_fwd,
    .xent_bwd = cnn_naive_xent_bwd,

    .concat_fwd = cnn_naive_concat_fwd,
    .concat_bwd = cnn_naive_concat_bwd,
};
