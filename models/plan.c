/* Which backend runs each layer's pass, and the record of every fallback.
 *
 * For one pass of one layer the candidates are, in order: the backend the
 * plan names for that (layer, pass), else the backend of the
 * first override whose glob matches the layer name, then the run's backend
 * list, then what cnn_backend_order() (registry.h) puts after them: the
 * fallback each of those names (winograd: im2col), the default fallbacks of
 * the device (host: onednn, im2col) and naive (host only), the last resort.
 * A fallback's context is created the first time a layer needs one. The
 * first candidate that supports the pass runs it; when that is not the first
 * candidate, the choice is a fallback and is recorded the first time it
 * runs, with the algorithm it used. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "registry.h"

const char *model_layer_name(const cnn_model *m, int layer)
{
    if (layer == CNN_LAYER_SUM)
        return "(gradient sum)";
    if (layer == CNN_LAYER_LOSS)
        return "(loss)";
    if (layer == CNN_LAYER_OPTIM)
        return "(optimizer)";
    return m->net.nodes[layer].name;
}

const cnn_op *model_layer_op(const cnn_model *m, int layer)
{
    if (layer == CNN_LAYER_LOSS)
        return &m->xent;
    if (layer == CNN_LAYER_OPTIM)
        return &m->optim;
    return layer >= 0 ? &m->net.nodes[layer].op : NULL;
}

static int override_for(const cnn_model *m, const char *name)
{
    for (int i = 0; i < m->noverride; i++)
        if (fnmatch(m->override[i].glob, name, 0) == 0)
            return m->override[i].ctx;
    return -1;
}

/* The candidates for a layer whose override is context `first` (-1: none). */
static int candidates(const cnn_model *m, int first, const cnn_backend **out)
{
    const cnn_backend *list[CNN_MAX_LIST + 1] = {NULL};
    int n = 0;
    if (first >= 0)
        list[n++] = m->ctx[first]->backend;
    for (int i = 0; i < m->nlist; i++)
        list[n++] = m->ctx[m->list[i]]->backend;
    return cnn_backend_order(list, n, m->opts.extra_backends, out, CNN_BACKEND_ORDER_MAX);
}

static cnn_route choose(cnn_model *m, int first, const cnn_op *op, cnn_pass pass)
{
    const cnn_backend *order[CNN_BACKEND_ORDER_MAX];
    int n = candidates(m, first, order);
    cnn_route r = {
        .ctx = -1, .requested = first >= 0 ? first : m->list[0], .calls = 0, .fallback_index = -1};
    for (int i = 0; i < n; i++) {
        int c;
        /* a fallback whose context cannot be made is passed over */
        if (model_ctx_for(m, order[i], &c) == CNN_OK && cnn_supports(m->ctx[c], op, pass)) {
            r.ctx = c;
            break;
        }
    }
    return r;
}

static bool plans_pass(const cnn_model *m, const cnn_node *nd, cnn_pass pass)
{
    if (pass < 0 || pass >= CNN_PASS_COUNT)
        return false;
    if (!cnn_op_has_pass(&nd->op, pass))
        return false;
    bool backward = pass == CNN_BWD_DATA || pass == CNN_BWD_WEIGHT || pass == CNN_BWD_BIAS;
    if (backward && m->opts.forward_only)
        return false;
    if (nd->op.kind == CNN_OP_CONV && pass == CNN_BWD_BIAS && !nd->op.conv.has_bias)
        return false;
    /* No gradient is wanted for the image, so a layer that reads only the
     * image skips its data pass; batch norm computes dgamma in that pass. */
    if (pass == CNN_BWD_DATA && nd->op.kind != CNN_OP_BN) {
        bool reads_activation = false;
        for (int k = 0; k < nd->nin; k++)
            reads_activation |= nd->in[k] != CNN_NET_INPUT;
        return reads_activation;
    }
    return true;
}

bool cnn_model_layer_runs(const cnn_model *m, int layer, cnn_pass pass)
{
    return layer >= 0 && layer < m->net.nnodes && plans_pass(m, &m->net.nodes[layer], pass);
}

/* ---- plans: a backend per (layer, pass) ---------------------------------- */

static int node_named(const cnn_model *m, const char *name)
{
    for (int i = 0; name && i < m->net.nnodes; i++)
        if (strcmp(m->net.nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* Entry e alone: its node and backend, or why not (cnn_last_error). */
static cnn_status check_entry(const cnn_model *m, const cnn_plan_entry *e,
                              const cnn_backend *const *extra, int *node, const cnn_backend **be)
{
    *node = node_named(m, e->layer);
    if (*node < 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s has no layer '%s'", m->desc->name,
                        e->layer ? e->layer : "(null)");
    const cnn_op *op = &m->net.nodes[*node].op;
    if (e->pass < 0 || e->pass >= CNN_PASS_COUNT || !cnn_op_has_pass(op, e->pass))
        return cnn_fail(CNN_ERR_INVALID_ARG, "layer %s (%s) has no pass %s", e->layer,
                        cnn_op_name(op), cnn_pass_str(e->pass));
    cnn_status st = cnn_backend_resolve(e->backend ? e->backend : "(null)", extra, be);
    if (st != CNN_OK)
        return st;
    char why[256];
    if (!cnn_backend_available(*be, why, sizeof why))
        return cnn_fail(CNN_ERR_INVALID_ARG, "backend %s is not usable here: %s", (*be)->name,
                        why);
    return CNN_OK;
}

cnn_status cnn_model_plan_check(const cnn_model *m, const cnn_plan_entry *plan, int nplan,
                                const cnn_backend *const *extra, int *bad)
{
    const cnn_backend *first = NULL;
    int node, first_at = -1;
    for (*bad = 0; *bad < nplan; ++*bad) {
        const cnn_plan_entry *e = &plan[*bad];
        const cnn_backend *be;
        cnn_status st = check_entry(m, e, extra, &node, &be);
        if (st != CNN_OK)
            return st;
        if (!first) {
            first = be;
            first_at = *bad;
        } else if (be->device != first->device)
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "backend %s runs on %s, %s %s's %s on %s; all backends of one run "
                            "must share a device",
                            be->name, cnn_device_str(be->device), plan[first_at].layer,
                            cnn_pass_str(plan[first_at].pass), first->name,
                            cnn_device_str(first->device));
        for (int j = 0; j < *bad; j++)
            if (plan[j].pass == e->pass && strcmp(plan[j].layer, e->layer) == 0)
                return cnn_fail(CNN_ERR_INVALID_ARG, "layer %s pass %s is planned twice",
                                e->layer, cnn_pass_str(e->pass));
    }
    *bad = -1;
    return CNN_OK;
}

static cnn_status entry_error(const cnn_model *m, int i, cnn_status st)
{
    const cnn_plan_entry *e = &m->opts.plan[i];
    char why[768];
    snprintf(why, sizeof why, "%s", cnn_last_error());
    return cnn_fail(st == CNN_ERR_OUT_OF_MEMORY ? st : CNN_ERR_INVALID_ARG,
                    "model %s: plan entry %d (%s %s on %s): %s", m->desc->name, i,
                    e->layer ? e->layer : "(null)", cnn_pass_str(e->pass),
                    e->backend ? e->backend : "(null)", why);
}

/* The plan's context for each node and pass, -1 where it names none;
 * contexts are made for its backends as for fallbacks. */
static cnn_status bind_plan(cnn_model *m, int (*planned)[CNN_PASS_COUNT])
{
    for (int i = 0; i < m->net.nnodes; i++)
        for (int p = 0; p < CNN_PASS_COUNT; p++)
            planned[i][p] = -1;
    int bad;
    cnn_status st = cnn_model_plan_check(m, m->opts.plan, m->opts.nplan, m->opts.extra_backends,
                                         &bad);
    if (st != CNN_OK)
        return entry_error(m, bad, st);
    for (int i = 0; i < m->opts.nplan; i++) {
        const cnn_plan_entry *e = &m->opts.plan[i];
        const cnn_backend *be;
        int node, c;
        check_entry(m, e, m->opts.extra_backends, &node, &be);
        cnn_device dev = m->ctx[0]->backend->device;
        if (be->device != dev) {
            cnn_fail(CNN_ERR_INVALID_ARG,
                     "backend %s runs on %s, the run's backends (%s) on %s; all backends of one "
                     "run must share a device",
                     be->name, cnn_device_str(be->device), m->backends_str, cnn_device_str(dev));
            return entry_error(m, i, CNN_ERR_INVALID_ARG);
        }
        st = model_ctx_for(m, be, &c);
        if (st != CNN_OK)
            return entry_error(m, i, st);
        planned[node][e->pass] = c;
    }
    return CNN_OK;
}

cnn_status model_plan(cnn_model *m)
{
    m->route = calloc((size_t)m->net.nnodes, sizeof *m->route);
    int(*planned)[CNN_PASS_COUNT] = calloc((size_t)m->net.nnodes, sizeof *planned);
    if (!m->route || !planned) {
        free(planned);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "model %s: no memory for the plan", m->desc->name);
    }
    cnn_status st = bind_plan(m, planned);
    /* the caller's array is not kept */
    m->opts.plan = NULL;
    m->opts.nplan = 0;
    if (st != CNN_OK) {
        free(planned);
        return st;
    }
    size_t ws = 0;
    for (int i = 0; i < m->net.nnodes; i++) {
        const cnn_node *nd = &m->net.nodes[i];
        int over = override_for(m, nd->name);
        for (int p = 0; p < CNN_PASS_COUNT; p++) {
            m->route[i][p] = (cnn_route){.ctx = -1, .requested = -1, .fallback_index = -1};
            if (!plans_pass(m, nd, (cnn_pass)p))
                continue;
            int first = planned[i][p] >= 0 ? planned[i][p] : over;
            m->route[i][p] = choose(m, first, &nd->op, (cnn_pass)p);
            if (m->route[i][p].ctx >= 0) {
                cnn_ctx *c = m->ctx[m->route[i][p].ctx];
                size_t need = cnn_workspace_size(c, &nd->op, (cnn_pass)p);
                ws = need > ws ? need : ws;
                /* eval-mode backward runs batch norm's frozen-statistics form */
                if (nd->op.kind == CNN_OP_BN && p == CNN_BWD_DATA) {
                    cnn_op frozen = nd->op;
                    frozen.bn.global_stats = true;
                    need = cnn_workspace_size(c, &frozen, (cnn_pass)p);
                    ws = need > ws ? need : ws;
                }
            }
        }
    }
    free(planned);
    cnn_status fs = model_plan_fusion(m, &ws);
    if (fs != CNN_OK)
        return fs;
    cnn_op add = {.kind = CNN_OP_ADD};
    add.add.count = 1;
    cnn_op_init(&add);
    for (int p = 0; p < CNN_PASS_COUNT; p++)
        m->loss_route[p] = (cnn_route){.ctx = -1, .requested = -1, .fallback_index = -1};
    m->sum_route = choose(m, -1, &add, CNN_FWD);
    m->loss_route[CNN_FWD] = choose(m, -1, &m->xent, CNN_FWD);
    if (!m->opts.forward_only)
        m->loss_route[CNN_BWD_DATA] = choose(m, -1, &m->xent, CNN_BWD_DATA);
    m->ws_size = ws;
    return CNN_OK;
}

static cnn_route *route_of(cnn_model *m, int layer, cnn_pass pass)
{
    if (layer == CNN_LAYER_SUM)
        return &m->sum_route;
    if (layer == CNN_LAYER_LOSS)
        return &m->loss_route[pass];
    if (layer == CNN_LAYER_OPTIM)
        return &m->optim_route;
    return &m->route[layer][pass];
}

static void list_names(const cnn_model *m, int first, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    const cnn_backend *order[CNN_BACKEND_ORDER_MAX];
    int k = candidates(m, first, order);
    for (int i = 0; i < k && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", order[i]->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

cnn_status model_route(cnn_model *m, int layer, cnn_pass pass, cnn_ctx **ctx)
{
    cnn_route *r = route_of(m, layer, pass);
    *ctx = NULL;
    if (r->ctx < 0) {
        char names[256], desc[256];
        const cnn_op *op = model_layer_op(m, layer);
        list_names(m, r->requested, names, sizeof names);
        if (r->requested < 0)
            return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: %s %s was not planned (%s)",
                            m->desc->name, model_layer_name(m, layer), cnn_pass_str(pass),
                            m->opts.forward_only ? "bound forward-only" : "no such pass");
        return cnn_fail(
            CNN_ERR_UNSUPPORTED, "model %s: no backend among %s supports layer %s %s %s%s%s",
            m->desc->name, names, model_layer_name(m, layer), op ? cnn_op_name(op) : "add",
            cnn_pass_str(pass), op ? " " : "", op ? cnn_op_str(op, desc, sizeof desc) : "");
    }
    *ctx = m->ctx[r->ctx];
    if (r->calls++ == 0 && r->ctx != r->requested) {
        if (m->nfallbacks == m->cap_fallbacks) {
            int cap = m->cap_fallbacks ? 2 * m->cap_fallbacks : 16;
            cnn_fallback_rec *p = realloc(m->fallbacks, (size_t)cap * sizeof *p);
            if (!p)
                return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "model %s: no memory for fallbacks",
                                m->desc->name);
            m->fallbacks = p;
            m->cap_fallbacks = cap;
        }
        r->fallback_index = m->nfallbacks;
        m->fallbacks[m->nfallbacks++] = (cnn_fallback_rec){.layer = layer, .pass = pass};
    }
    return CNN_OK;
}

/* A second init keeps the count of calls and the fallback record, so that
 * a fallback is listed once however often the optimizer is set. */
cnn_status model_plan_optimizer(cnn_model *m, const cnn_op *op)
{
    cnn_route r = choose(m, -1, op, CNN_FWD);
    if (r.ctx < 0) {
        char names[256], desc[256];
        list_names(m, r.requested, names, sizeof names);
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "model %s: no backend among %s supports the %s step %s", m->desc->name,
                        names, cnn_op_name(op), cnn_op_str(op, desc, sizeof desc));
    }
    if (m->optim_ready) {
        r.calls = m->optim_route.calls;
        r.fallback_index = m->optim_route.fallback_index;
    }
    m->optim_route = r;
    m->optim = *op;
    return CNN_OK;
}

int cnn_model_fallback_count(const cnn_model *m)
{
    return m->nfallbacks;
}

cnn_status cnn_model_fallback(const cnn_model *m, int i, cnn_fallback *out)
{
    if (i < 0 || i >= m->nfallbacks)
        return cnn_fail(CNN_ERR_INVALID_ARG, "fallback index %d out of range [0, %d)", i,
                        m->nfallbacks);
    const cnn_fallback_rec *f = &m->fallbacks[i];
    const cnn_route *r = route_of((cnn_model *)m, f->layer, f->pass);
    const cnn_op *op = model_layer_op(m, f->layer);
    cnn_ctx *used = m->ctx[r->ctx];
    *out = (cnn_fallback){.layer = model_layer_name(m, f->layer),
                          .pass = f->pass,
                          .requested = m->ctx[r->requested]->backend->name,
                          .used = used->backend->name,
                          .algorithm = op ? cnn_algorithm(used, op, f->pass) : used->backend->name,
                          .calls = r->calls};
    return CNN_OK;
}

void cnn_model_print_fallbacks(const cnn_model *m, FILE *out)
{
    if (m->nfallbacks == 0)
        return;
    fprintf(out, "%s: %d layer passes ran on a backend other than the one requested:\n",
            m->desc->name, m->nfallbacks);
    for (int i = 0; i < m->nfallbacks; i++) {
        cnn_fallback f;
        if (cnn_model_fallback(m, i, &f) != CNN_OK)
            continue;
        fprintf(out, "  fallback: %-28s %-10s requested %-10s used %-10s (%s)\n", f.layer,
                cnn_pass_str(f.pass), f.requested, f.used, f.algorithm);
    }
}

const char *cnn_model_layer_backend(const cnn_model *m, int layer, cnn_pass pass,
                                    const char **algorithm)
{
    if (algorithm)
        *algorithm = NULL;
    if (!m->bound || layer < 0 || layer >= m->net.nnodes || pass < 0 || pass >= CNN_PASS_COUNT)
        return NULL;
    const cnn_route *r = &m->route[layer][pass];
    if (r->ctx < 0)
        return NULL;
    cnn_ctx *ctx = m->ctx[r->ctx];
    if (algorithm)
        *algorithm = m->fuse[layer].algo[pass][0]
                         ? m->fuse[layer].algo[pass]
                         : cnn_algorithm(ctx, &m->net.nodes[layer].op, pass);
    return ctx->backend->name;
}

int64_t cnn_model_layer_calls(const cnn_model *m, int layer, cnn_pass pass)
{
    if (!m->bound || layer < 0 || layer >= m->net.nnodes || pass < 0 || pass >= CNN_PASS_COUNT)
        return 0;
    return m->route[layer][pass].calls;
}
