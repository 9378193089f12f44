/* The per-context cache of entries, keyed by (operation, pass).
 *
 * Creating a oneDNN primitive descriptor and primitive (implementation
 * search, JIT code generation) costs far more than running a small layer, so
 * each one is made once per shape. The list is kept most-recently-used first
 * and bounded; a real network has a few hundred distinct (layer, pass) pairs,
 * well under the bound, so eviction only happens in sweeps over many shapes. */
#include "onednn_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 512

/* The key lists the descriptor's fields one by one: comparing the structs
 * themselves would compare their padding bytes too. Output sizes are left
 * out because they follow from the rest. The thread count is in it because
 * oneDNN shapes a primitive for the count it was created with. */
static void make_key(const cnn_op *op, cnn_pass pass, int threads, int64_t key[CNN_ONEDNN_KEY_LEN])
{
    memset(key, 0, sizeof(int64_t) * CNN_ONEDNN_KEY_LEN);
    int i = 0;
    key[i++] = op->kind;
    key[i++] = pass;
    key[i++] = threads;
    switch (op->kind) {
    case CNN_OP_CONV: {
        const cnn_conv_desc *d = &op->conv;
        const int64_t f[] = {d->n,     d->c,        d->h,        d->w,        d->k,
                             d->r,     d->s,        d->stride_h, d->stride_w, d->pad_h,
                             d->pad_w, d->has_bias, d->fuse_relu};
        memcpy(key + i, f, sizeof f);
        break;
    }
    case CNN_OP_POOL: {
        const cnn_pool_desc *d = &op->pool;
        const int64_t f[] = {d->mode, d->n,        d->c,        d->h,     d->w,     d->kh,
                             d->kw,   d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->ceil_mode};
        memcpy(key + i, f, sizeof f);
        break;
    }
    case CNN_OP_ADAPOOL: {
        const cnn_adapool_desc *d = &op->adapool;
        const int64_t f[] = {d->n, d->c, d->h, d->w, d->p, d->q};
        memcpy(key + i, f, sizeof f);
        break;
    }
    case CNN_OP_BN: {
        const cnn_bn_desc *d = &op->bn;
        int64_t eps_bits;
        memcpy(&eps_bits, &d->eps, sizeof eps_bits);
        const int64_t f[] = {d->n, d->c, d->h, d->w, eps_bits, d->global_stats, d->fuse_relu};
        memcpy(key + i, f, sizeof f);
        break;
    }
    case CNN_OP_LINEAR: {
        const cnn_linear_desc *d = &op->linear;
        const int64_t f[] = {d->n, d->in, d->out, d->has_bias};
        memcpy(key + i, f, sizeof f);
        break;
    }
    case CNN_OP_ACT:
        key[i++] = op->act.mode;
        key[i++] = op->act.count;
        break;
    case CNN_OP_ADD: key[i++] = op->add.count; break;
    case CNN_OP_CONCAT: {
        const cnn_concat_desc *d = &op->concat;
        key[i++] = d->n;
        key[i++] = d->h;
        key[i++] = d->w;
        key[i++] = d->count;
        for (int j = 0; j < d->count; j++)
            key[i++] = d->c[j];
        break;
    }
    default: break;
    }
}

/* Operations whose interface passes no workspace get oneDNN's own
 * scratchpad; all the others take it from the caller's workspace. */
static bool has_workspace(cnn_op_kind kind)
{
    return kind != CNN_OP_ACT && kind != CNN_OP_ADD && kind != CNN_OP_CONCAT;
}

static cnn_status build(cnn_onednn_state *st, cnn_onednn_entry *e, const cnn_op *op, cnn_pass pass)
{
    switch (op->kind) {
    case CNN_OP_CONV: return cnn_onednn_conv_build(st, e, &op->conv, pass);
    case CNN_OP_POOL: return cnn_onednn_pool_build(st, e, &op->pool, pass);
    case CNN_OP_ADAPOOL: return cnn_onednn_adapool_build(st, e, &op->adapool, pass);
    case CNN_OP_BN: return cnn_onednn_bn_build(st, e, &op->bn, pass);
    case CNN_OP_LINEAR: return cnn_onednn_linear_build(st, e, &op->linear, pass);
    case CNN_OP_ACT: return cnn_onednn_act_build(st, e, &op->act, pass);
    case CNN_OP_ADD: return cnn_onednn_add_build(st, e, &op->add);
    case CNN_OP_CONCAT: return cnn_onednn_concat_build(st, e, &op->concat, pass);
    default:
        return cnn_fail(CNN_ERR_UNSUPPORTED, "onednn: no %s %s", cnn_op_name(op),
                        cnn_pass_str(pass));
    }
}

static cnn_status create(cnn_onednn_state *st, const cnn_op *op, cnn_pass pass,
                         const int64_t key[CNN_ONEDNN_KEY_LEN], cnn_onednn_entry **out)
{
    cnn_onednn_entry *e = calloc(1, sizeof *e);
    if (!e)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "onednn: no memory for a primitive cache entry");
    memcpy(e->key, key, sizeof e->key);
    e->user_scratchpad = has_workspace(op->kind);
    cnn_status cs = CNN_OK;
    dnnl_status_t ds = dnnl_primitive_attr_create(&e->attr);
    if (ds != dnnl_success)
        cs = cnn_onednn_fail(ds, "dnnl_primitive_attr_create", __FILE__, __LINE__);
    if (cs == CNN_OK && e->user_scratchpad) {
        ds = dnnl_primitive_attr_set_scratchpad_mode(e->attr, dnnl_scratchpad_mode_user);
        if (ds != dnnl_success)
            cs = cnn_onednn_fail(ds, "dnnl_primitive_attr_set_scratchpad_mode", __FILE__, __LINE__);
    }
    if (cs == CNN_OK)
        cs = build(st, e, op, pass);
    if (cs == CNN_OK)
        cs = cnn_onednn_finish(st, e);
    if (cs != CNN_OK) {
        cnn_onednn_entry_free(e);
        return cs;
    }
    *out = e;
    return CNN_OK;
}

cnn_status cnn_onednn_get(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, cnn_onednn_entry **out)
{
    cnn_onednn_state *st = ctx->impl;
    int64_t key[CNN_ONEDNN_KEY_LEN];
    make_key(op, pass, cnn_onednn_threads(), key);

    cnn_onednn_entry *prev = NULL;
    for (cnn_onednn_entry *e = st->entries; e; prev = e, e = e->next) {
        if (memcmp(e->key, key, sizeof key) != 0)
            continue;
        if (prev) {
            prev->next = e->next;
            e->next = st->entries;
            st->entries = e;
        }
        *out = e;
        return CNN_OK;
    }

    cnn_onednn_entry *e = NULL;
    cnn_status cs = create(st, op, pass, key, &e);
    if (cs != CNN_OK)
        return cs;
    e->next = st->entries;
    st->entries = e;
    if (++st->nentries > MAX_ENTRIES) {
        cnn_onednn_entry *last = st->entries;
        while (last->next->next)
            last = last->next;
        cnn_onednn_entry_free(last->next);
        last->next = NULL;
        st->nentries--;
    }
    *out = e;
    return CNN_OK;
}

void cnn_onednn_cache_clear(cnn_onednn_state *st)
{
    cnn_onednn_entry *e = st->entries;
    while (e) {
        cnn_onednn_entry *next = e->next;
        cnn_onednn_entry_free(e);
        e = next;
    }
    st->entries = NULL;
    st->nentries = 0;
}

cnn_status cnn_onednn_call(cnn_ctx *ctx, const cnn_op *op, cnn_pass pass, void *const *ptrs,
                           void *ws, size_t ws_size)
{
    cnn_onednn_entry *e;
    TRY(cnn_onednn_get(ctx, op, pass, &e));
    return cnn_onednn_run(ctx, e, ptrs, ws, ws_size);
}
