/* The model's optimizer: its state, one allocation on the model's device,
 * and the step, run on the flat parameter and gradient blocks as one call
 * of the backend table's optim_step entry (kernels/ops.h, cnn_optim_desc),
 * routed like a layer's pass (plan.c, the pseudo-layer CNN_LAYER_OPTIM).
 *
 * The blocks hold alignment gaps between tensors (cnn_model_param_block);
 * they are zero in both, and a zero gradient on a zero parameter with a
 * zero state keeps all three at zero under SGD and Adam alike, so the step
 * runs over the whole block. */
#include "model_internal.h"

static cnn_status need_optimizer(const cnn_model *m)
{
    if (!m->optim_ready)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "model %s: no optimizer is set; call cnn_model_optimizer_init first",
                        m->desc->name);
    return CNN_OK;
}

static cnn_status alloc_state(cnn_model *m, int64_t floats, float **out)
{
    void *p = NULL;
    size_t bytes = (size_t)floats * sizeof(float);
    *out = NULL;
    if (!floats)
        return CNN_OK;
    cnn_status st = cnn_mem_alloc(m->ctx[0], bytes, &p);
    if (st == CNN_OK)
        st = cnn_mem_zero(m->ctx[0], p, bytes);
    if (st != CNN_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        cnn_mem_free(m->ctx[0], p);
        return cnn_fail(st, "model %s: cannot allocate the optimizer state, %.1f MiB on %s: %s",
                        m->desc->name, (double)bytes / 1048576.0, m->ctx[0]->backend->name, why);
    }
    *out = p;
    return CNN_OK;
}

cnn_status cnn_model_optimizer_init(cnn_model *m, const cnn_optim_desc *d)
{
    if (!m->bound)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "model %s: bind it to a backend before setting an optimizer",
                        m->desc->name);
    if (!m->grads)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "model %s was bound forward-only: no gradients for an optimizer",
                        m->desc->name);
    cnn_op op = {.kind = CNN_OP_OPTIM, .optim = *d};
    op.optim.count = m->net.grad_floats;
    op.optim.step = 1;
    cnn_status st = cnn_op_init(&op);
    if (st != CNN_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail(st, "model %s: optimizer: %s", m->desc->name, why);
    }
    float *state;
    st = alloc_state(m, cnn_optim_state_count(&op.optim), &state);
    if (st == CNN_OK)
        st = model_plan_optimizer(m, &op);
    if (st != CNN_OK) {
        cnn_mem_free(m->ctx[0], state);
        return st;
    }
    cnn_mem_free(m->ctx[0], m->optim_state);
    m->optim_state = state;
    m->optim_steps = 0;
    m->optim_ready = true;
    return CNN_OK;
}

cnn_status cnn_model_optimizer_step(cnn_model *m)
{
    cnn_ctx *ctx;
    cnn_status st = need_optimizer(m);
    if (st == CNN_OK)
        st = model_route(m, CNN_LAYER_OPTIM, CNN_FWD, &ctx);
    if (st != CNN_OK)
        return st;
    cnn_optim_desc d = m->optim.optim;
    d.step = m->optim_steps + 1;
    st = cnn_optim_step(ctx, &d, m->params, m->grads, m->optim_state);
    if (st != CNN_OK)
        return model_layer_error(m, CNN_LAYER_OPTIM, CNN_FWD, st);
    m->optim.optim.step = d.step;
    m->optim_steps = d.step;
    m->have_forward = m->have_loss = false;
    return CNN_OK;
}

cnn_status cnn_model_optimizer_state(cnn_model *m, float **state, int64_t *count, int64_t *step)
{
    cnn_status st = need_optimizer(m);
    if (st != CNN_OK)
        return st;
    *state = m->optim_state;
    *count = cnn_optim_state_count(&m->optim.optim);
    *step = m->optim_steps;
    return CNN_OK;
}

cnn_status cnn_model_optimizer_set_step(cnn_model *m, int64_t step)
{
    cnn_status st = need_optimizer(m);
    if (st != CNN_OK)
        return st;
    if (step < 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: optimizer step must be >= 0, got %lld",
                        m->desc->name, (long long)step);
    m->optim_steps = step;
    return CNN_OK;
}
