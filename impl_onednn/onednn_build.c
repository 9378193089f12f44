/* Building an entry: primitives, the memory objects that wrap the caller's
 * arrays, the reorders where oneDNN wants another layout, and the sizes of
 * the workspace regions. */
#include "onednn_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl_debug.h>

cnn_status cnn_onednn_fail(dnnl_status_t s, const char *call, const char *file, int line)
{
    return cnn_fail(CNN_ERR_BACKEND, "oneDNN: %s failed with %s at %s:%d", call, dnnl_status2str(s),
                    file, line);
}

cnn_status cnn_onednn_md(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims,
                         dnnl_format_tag_t tag)
{
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag));
    return CNN_OK;
}

cnn_status cnn_onednn_md4(dnnl_memory_desc_t *md, int64_t a, int64_t b, int64_t c, int64_t d,
                          dnnl_format_tag_t tag)
{
    const dnnl_dims_t dims = {a, b, c, d};
    return cnn_onednn_md(md, 4, dims, tag);
}

cnn_status cnn_onednn_md1(dnnl_memory_desc_t *md, int64_t a)
{
    const dnnl_dims_t dims = {a};
    return cnn_onednn_md(md, 1, dims, dnnl_a);
}

dnnl_format_tag_t cnn_onednn_blocked_tag(void)
{
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core ? dnnl_nChw16c
                                                                        : dnnl_nChw8c;
}

/* A user-mode scratchpad memory for pd, or NULL when it needs none. */
static cnn_status make_scratch(cnn_onednn_state *st, cnn_onednn_entry *e,
                               const_dnnl_primitive_desc_t pd, dnnl_memory_t *out)
{
    *out = NULL;
    if (!e->user_scratchpad)
        return CNN_OK;
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t bytes = md ? dnnl_memory_desc_get_size(md) : 0;
    if (bytes == 0)
        return CNN_OK;
    DNNL_CHECK(dnnl_memory_create(out, md, st->engine, DNNL_MEMORY_NONE));
    if (bytes > e->scratch_bytes)
        e->scratch_bytes = bytes;
    return CNN_OK;
}

cnn_status cnn_onednn_set_hint(cnn_onednn_state *st, cnn_onednn_entry *e, const void *op_desc)
{
    dnnl_primitive_desc_t pd = NULL;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, op_desc, e->attr, st->engine, NULL));
    e->hint = pd;
    return CNN_OK;
}

cnn_status cnn_onednn_add_pd(cnn_onednn_state *st, cnn_onednn_entry *e, dnnl_primitive_desc_t pd,
                             int *step)
{
    if (e->nsteps == CNN_ONEDNN_MAX_STEPS) {
        dnnl_primitive_desc_destroy(pd);
        return cnn_fail(CNN_ERR_BACKEND, "oneDNN: more than %d primitives in one operation",
                        CNN_ONEDNN_MAX_STEPS);
    }
    cnn_onednn_step *s = &e->steps[e->nsteps];
    s->pd = pd;
    *step = e->nsteps++;
    e->main_step = *step;
    dnnl_primitive_t prim = NULL;
    DNNL_CHECK(dnnl_primitive_create(&prim, pd));
    s->prim = prim;
    return make_scratch(st, e, pd, &s->scratch);
}

cnn_status cnn_onednn_add_op(cnn_onednn_state *st, cnn_onednn_entry *e, const void *op_desc,
                             const_dnnl_primitive_desc_t hint, int *step)
{
    dnnl_primitive_desc_t pd = NULL;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, op_desc, e->attr, st->engine, hint));
    return cnn_onednn_add_pd(st, e, pd, step);
}

cnn_status cnn_onednn_bind(cnn_onednn_entry *e, int step, int arg, int slot)
{
    cnn_onednn_step *s = &e->steps[step];
    if (s->nargs == CNN_ONEDNN_MAX_ARGS)
        return cnn_fail(CNN_ERR_BACKEND, "oneDNN: more than %d arguments to one primitive",
                        CNN_ONEDNN_MAX_ARGS);
    s->arg[s->nargs] = arg;
    s->slot[s->nargs] = slot;
    s->nargs++;
    return CNN_OK;
}

static cnn_status new_slot(cnn_onednn_entry *e, int arg, bool output, int *slot)
{
    if (e->nslots == CNN_ONEDNN_MAX_SLOTS)
        return cnn_fail(CNN_ERR_BACKEND, "oneDNN: more than %d operands in one operation",
                        CNN_ONEDNN_MAX_SLOTS);
    *slot = e->nslots++;
    e->slots[*slot].arg = arg;
    e->slots[*slot].output = output;
    return CNN_OK;
}

/* The layout the primitive of `step` wants for `arg`. */
static cnn_status wanted_md(const cnn_onednn_entry *e, int step, int arg,
                            const dnnl_memory_desc_t **md)
{
    *md = dnnl_primitive_desc_query_md(e->steps[step].pd, dnnl_query_exec_arg_md, arg);
    if (!*md || (*md)->ndims == 0)
        return cnn_fail(CNN_ERR_BACKEND, "oneDNN: primitive has no memory for argument %d", arg);
    return CNN_OK;
}

static cnn_status make_inner(cnn_onednn_state *st, cnn_onednn_entry *e, cnn_onednn_slot *slot,
                             const dnnl_memory_desc_t *md)
{
    DNNL_CHECK(dnnl_memory_create(&slot->inner, md, st->engine, DNNL_MEMORY_NONE));
    slot->offset = e->buffer_bytes;
    e->buffer_bytes += cnn_onednn_align(dnnl_memory_desc_get_size(md));
    return CNN_OK;
}

static cnn_status make_reorder(cnn_onednn_state *st, cnn_onednn_entry *e, cnn_onednn_slot *slot,
                               const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to)
{
    dnnl_primitive_desc_t pd = NULL;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, from, st->engine, to, st->engine, e->attr));
    dnnl_status_t s = dnnl_primitive_create(&slot->reorder, pd);
    cnn_status cs = CNN_OK;
    if (s != dnnl_success)
        cs = cnn_onednn_fail(s, "dnnl_primitive_create(reorder)", __FILE__, __LINE__);
    else
        cs = make_scratch(st, e, pd, &slot->reorder_scratch);
    dnnl_primitive_desc_destroy(pd);
    return cs;
}

cnn_status cnn_onednn_user(cnn_onednn_state *st, cnn_onednn_entry *e, int step, int arg,
                           const dnnl_memory_desc_t *user_md, bool output)
{
    int k = 0;
    cnn_status cs = new_slot(e, arg, output, &k);
    if (cs != CNN_OK)
        return cs;
    cnn_onednn_slot *slot = &e->slots[k];
    e->user_slot[e->nuser++] = k;
    DNNL_CHECK(dnnl_memory_create(&slot->user, user_md, st->engine, DNNL_MEMORY_NONE));
    const dnnl_memory_desc_t *want;
    if ((cs = wanted_md(e, step, arg, &want)) != CNN_OK)
        return cs;
    if (!dnnl_memory_desc_equal(want, user_md)) {
        if ((cs = make_inner(st, e, slot, want)) != CNN_OK)
            return cs;
        cs = output ? make_reorder(st, e, slot, want, user_md)
                    : make_reorder(st, e, slot, user_md, want);
        if (cs != CNN_OK)
            return cs;
    }
    return cnn_onednn_bind(e, step, arg, k);
}

cnn_status cnn_onednn_internal(cnn_onednn_state *st, cnn_onednn_entry *e, int step, int arg,
                               int *slot)
{
    const dnnl_memory_desc_t *want;
    cnn_status cs = wanted_md(e, step, arg, &want);
    if (cs == CNN_OK)
        cs = new_slot(e, arg, false, slot);
    if (cs == CNN_OK)
        cs = make_inner(st, e, &e->slots[*slot], want);
    if (cs == CNN_OK)
        cs = cnn_onednn_bind(e, step, arg, *slot);
    return cs;
}

static const char *arg_name(int arg)
{
    switch (arg) {
    case DNNL_ARG_SRC: return "src";
    case DNNL_ARG_DST: return "dst";
    case DNNL_ARG_WEIGHTS: return "wei";
    case DNNL_ARG_BIAS: return "bia";
    case DNNL_ARG_DIFF_SRC: return "diff_src";
    case DNNL_ARG_DIFF_DST: return "diff_dst";
    case DNNL_ARG_DIFF_WEIGHTS: return "diff_wei";
    case DNNL_ARG_DIFF_BIAS: return "diff_bia";
    default: return "arg";
    }
}

/* Algorithm names outlive the entries (a caller may hold one while the
 * cache evicts), so they are kept once per distinct text in the state. */
static const char *intern(cnn_onednn_state *st, const char *name)
{
    for (int i = 0; i < st->nnames; i++)
        if (strcmp(st->names[i], name) == 0)
            return st->names[i];
    if (st->nnames == CNN_ONEDNN_MAX_NAMES)
        return "onednn (algorithm name table full)";
    size_t n = strlen(name) + 1;
    char *copy = malloc(n);
    if (!copy)
        return "onednn";
    memcpy(copy, name, n);
    st->names[st->nnames++] = copy;
    return copy;
}

cnn_status cnn_onednn_finish(cnn_onednn_state *st, cnn_onednn_entry *e)
{
    size_t total =
        cnn_onednn_align(e->scratch_bytes) + e->buffer_bytes + cnn_onednn_align(e->extra_bytes);
    /* The slack lets the region start anywhere in the caller's buffer. */
    e->workspace_bytes = total ? total + CNN_ONEDNN_ALIGN : 0;
    if (!e->user_scratchpad && e->workspace_bytes)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "oneDNN wants %zu bytes of buffers for an operation whose interface has "
                        "no workspace",
                        e->workspace_bytes);

    const char *impl = NULL;
    if (dnnl_primitive_desc_query(e->steps[e->main_step].pd, dnnl_query_impl_info_str, 0,
                                  (void *)&impl) != dnnl_success ||
        !impl)
        impl = "unknown";
    char name[256];
    int used = snprintf(name, sizeof name, "%s%s%s%s", impl, e->note ? " (" : "",
                        e->note ? e->note : "", e->note ? ")" : "");
    int reorders = 0;
    for (int i = 0; i < e->nslots && used > 0 && (size_t)used < sizeof name; i++) {
        if (!e->slots[i].reorder)
            continue;
        used += snprintf(name + used, sizeof name - (size_t)used, "%s%s",
                         reorders++ ? "," : " +reorder ", arg_name(e->slots[i].arg));
    }
    e->algorithm = intern(st, name);
    return CNN_OK;
}

void cnn_onednn_entry_free(cnn_onednn_entry *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->nsteps; i++) {
        cnn_onednn_step *s = &e->steps[i];
        if (s->scratch)
            dnnl_memory_destroy(s->scratch);
        if (s->prim)
            dnnl_primitive_destroy(s->prim);
        if (s->pd)
            dnnl_primitive_desc_destroy(s->pd);
    }
    for (int i = 0; i < e->nslots; i++) {
        cnn_onednn_slot *s = &e->slots[i];
        if (s->reorder_scratch)
            dnnl_memory_destroy(s->reorder_scratch);
        if (s->reorder)
            dnnl_primitive_destroy(s->reorder);
        if (s->inner)
            dnnl_memory_destroy(s->inner);
        if (s->user)
            dnnl_memory_destroy(s->user);
    }
    if (e->hint)
        dnnl_primitive_desc_destroy(e->hint);
    if (e->attr)
        dnnl_primitive_attr_destroy(e->attr);
    free(e);
}
