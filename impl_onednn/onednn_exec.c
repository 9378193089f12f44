/* Running an entry: binding the caller's pointers and workspace, then input
 * reorders (timed), the primitives in order, output reorders (timed). */
#include "onednn_internal.h"

#include "clock.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int cnn_onednn_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static char *region_base(const cnn_onednn_entry *e, void *ws)
{
    if (!e->workspace_bytes)
        return NULL;
    return (char *)(uintptr_t)cnn_onednn_align((uintptr_t)ws);
}

cnn_status cnn_onednn_check_ws(const cnn_onednn_entry *e, const void *ws, size_t ws_size)
{
    if (ws_size < e->workspace_bytes || (e->workspace_bytes && !ws))
        return cnn_fail(CNN_ERR_INVALID_ARG, "onednn: needs a workspace of %zu bytes, got %zu",
                        e->workspace_bytes, ws ? ws_size : 0);
    return CNN_OK;
}

void *cnn_onednn_extra(const cnn_onednn_entry *e, void *ws)
{
    char *base = region_base(e, ws);
    return base ? base + cnn_onednn_align(e->scratch_bytes) + e->buffer_bytes : NULL;
}

static cnn_status wait_stream(cnn_onednn_state *st)
{
    DNNL_CHECK(dnnl_stream_wait(st->stream));
    return CNN_OK;
}

/* One reorder, waited for, so that the time is its own. */
static cnn_status run_reorder(cnn_onednn_state *st, const cnn_onednn_slot *slot, double *seconds)
{
    dnnl_memory_t from = slot->output ? slot->inner : slot->user;
    dnnl_memory_t to = slot->output ? slot->user : slot->inner;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    int nargs = 2;
    if (slot->reorder_scratch)
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, slot->reorder_scratch};
    double t0 = cnn_wall_seconds();
    DNNL_CHECK(dnnl_primitive_execute(slot->reorder, st->stream, nargs, args));
    DNNL_CHECK(dnnl_stream_wait(st->stream));
    *seconds += cnn_wall_seconds() - t0;
    return CNN_OK;
}

static cnn_status run_step(cnn_onednn_state *st, const cnn_onednn_entry *e,
                           const cnn_onednn_step *s)
{
    dnnl_exec_arg_t args[CNN_ONEDNN_MAX_ARGS + 1];
    int nargs = 0;
    for (int i = 0; i < s->nargs; i++) {
        const cnn_onednn_slot *slot = &e->slots[s->slot[i]];
        args[nargs++] = (dnnl_exec_arg_t){s->arg[i], slot->inner ? slot->inner : slot->user};
    }
    if (s->scratch)
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->scratch};
    DNNL_CHECK(dnnl_primitive_execute(s->prim, st->stream, nargs, args));
    return CNN_OK;
}

cnn_status cnn_onednn_run(cnn_ctx *ctx, cnn_onednn_entry *e, void *const *ptrs, void *ws,
                          size_t ws_size)
{
    cnn_onednn_state *st = ctx->impl;
    st->reorder_seconds = 0.0;
    TRY(cnn_onednn_check_ws(e, ws, ws_size));
    char *base = region_base(e, ws);
    char *buffers = base ? base + cnn_onednn_align(e->scratch_bytes) : NULL;

    for (int i = 0; i < e->nuser; i++)
        DNNL_CHECK(dnnl_memory_set_data_handle(e->slots[e->user_slot[i]].user, ptrs[i]));
    for (int i = 0; i < e->nslots; i++) {
        const cnn_onednn_slot *slot = &e->slots[i];
        if (slot->inner)
            DNNL_CHECK(dnnl_memory_set_data_handle(slot->inner, buffers + slot->offset));
        if (slot->reorder_scratch)
            DNNL_CHECK(dnnl_memory_set_data_handle(slot->reorder_scratch, base));
    }
    for (int i = 0; i < e->nsteps; i++)
        if (e->steps[i].scratch)
            DNNL_CHECK(dnnl_memory_set_data_handle(e->steps[i].scratch, base));

    double reorder = 0.0;
    cnn_status cs = CNN_OK;
    for (int i = 0; i < e->nslots && cs == CNN_OK; i++)
        if (e->slots[i].reorder && !e->slots[i].output)
            cs = run_reorder(st, &e->slots[i], &reorder);
    for (int i = 0; i < e->nsteps && cs == CNN_OK; i++)
        cs = run_step(st, e, &e->steps[i]);
    /* So that the output reorders' clock starts when the primitives are done. */
    if (cs == CNN_OK)
        cs = wait_stream(st);
    for (int i = 0; i < e->nslots && cs == CNN_OK; i++)
        if (e->slots[i].reorder && e->slots[i].output)
            cs = run_reorder(st, &e->slots[i], &reorder);
    st->reorder_seconds = reorder;
    return cs;
}
