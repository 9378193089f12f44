/* The model object: creation from the catalogue, queries, binding to
 * backends (contexts and allocations; the memory layout is layout.c's),
 * host access to tensors, and the executor's layer errors, clock and hooks. */
#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_internal.h"
#include "registry.h"

static cnn_status need_bound(const cnn_model *m, const char *what);

/* ---- creation and queries ------------------------------------------------ */

cnn_status cnn_model_create_net(const cnn_model_desc *d, net_builder build,
                                const cnn_model_opts *opts, cnn_model **out)
{
    *out = NULL;
    cnn_model_opts o = opts ? *opts : (cnn_model_opts){0};
    if (o.batch < 0 || o.classes < 0 || o.c < 0 || o.h < 0 || o.w < 0)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "model %s: batch, classes and input size must be positive, got batch %d, "
                        "classes %d, input %dx%dx%d",
                        d->name, o.batch, o.classes, o.c, o.h, o.w);
    cnn_model *m = calloc(1, sizeof *m);
    if (!m)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "model %s: no memory", d->name);
    m->desc = d;
    cnn_shape input =
        cnn_shape4(o.batch ? o.batch : 1, o.c ? o.c : d->c, o.h ? o.h : d->h, o.w ? o.w : d->w);
    net_init(&m->net, d->name, input, cnn_shape4(1, d->c, d->h, d->w),
             o.classes ? o.classes : d->classes);
    build(&m->net);
    cnn_status st = net_finish(&m->net);
    if (st == CNN_OK) {
        m->xent.kind = CNN_OP_XENT;
        m->xent.xent = (cnn_xent_desc){.n = (int)input.dim[0], .classes = m->net.classes};
        st = cnn_op_init(&m->xent);
    }
    if (st != CNN_OK) {
        cnn_model_destroy(m);
        return st;
    }
    *out = m;
    return CNN_OK;
}

cnn_status cnn_model_create(const char *name, const cnn_model_opts *opts, cnn_model **out)
{
    *out = NULL;
    const cnn_model_desc *d = cnn_model_find(name);
    if (!d) {
        char names[256];
        return cnn_fail(CNN_ERR_INVALID_ARG, "unknown model '%s'; valid models: %s", name,
                        cnn_model_names(names, sizeof names));
    }
    return cnn_model_create_net(d, model_builder(d), opts, out);
}

void cnn_model_destroy(cnn_model *m)
{
    if (!m)
        return;
    if (m->nctx > 0) {
        cnn_mem_free(m->ctx[0], m->params);
        cnn_mem_free(m->ctx[0], m->grads);
        cnn_mem_free(m->ctx[0], m->acts);
        cnn_mem_free(m->ctx[0], m->ws);
        cnn_mem_free(m->ctx[0], m->optim_state);
    }
    for (int i = 0; i < m->nctx; i++)
        cnn_ctx_destroy(m->ctx[i]);
    for (int i = 0; i < m->noverride; i++)
        free(m->override[i].glob);
    free(m->override);
    free(m->backends_str);
    free(m->extra);
    free(m->route);
    free(m->fuse);
    free(m->mem);
    free(m->batches_tracked);
    free(m->written);
    free(m->dropout);
    free(m->fallbacks);
    net_free(&m->net);
    free(m);
}

const char *cnn_model_name(const cnn_model *m)
{
    return m->desc->name;
}

cnn_shape cnn_model_input_shape(const cnn_model *m)
{
    return m->net.input;
}

cnn_shape cnn_model_output_shape(const cnn_model *m)
{
    return m->net.nodes[m->net.nnodes - 1].y;
}

int64_t cnn_model_param_count(const cnn_model *m)
{
    return m->net.trainable_floats;
}

static cnn_pass infer_pass(const cnn_op *op)
{
    return op->kind == CNN_OP_BN ? CNN_FWD_INFER : CNN_FWD;
}

double cnn_model_flops(const cnn_model *m)
{
    double f = 0.0;
    for (int i = 0; i < m->net.nnodes; i++)
        f += cnn_op_flops(&m->net.nodes[i].op, infer_pass(&m->net.nodes[i].op));
    return f;
}

int cnn_model_layer_count(const cnn_model *m)
{
    return m->net.nnodes;
}

cnn_status cnn_model_layer(const cnn_model *m, int i, cnn_layer_info *out)
{
    if (i < 0 || i >= m->net.nnodes)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: layer %d out of range [0, %d)",
                        m->desc->name, i, m->net.nnodes);
    const cnn_node *nd = &m->net.nodes[i];
    int64_t params = 0;
    for (int t = 0; t < m->net.ntensors; t++)
        if (m->net.tensors[t].node == i && m->net.tensors[t].trainable)
            params += cnn_shape_numel(&m->net.tensors[t].shape);
    *out = (cnn_layer_info){.name = nd->name,
                            .op = &nd->op,
                            .y = nd->y,
                            .params = params,
                            .flops = cnn_op_flops(&nd->op, infer_pass(&nd->op)),
                            .nin = nd->nin,
                            .in = nd->in};
    return CNN_OK;
}

int cnn_model_tensor_count(const cnn_model *m)
{
    return m->net.ntensors;
}

cnn_status cnn_model_tensor(const cnn_model *m, int i, cnn_tensor_info *out)
{
    if (i < 0 || i >= m->net.ntensors)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: tensor %d out of range [0, %d)",
                        m->desc->name, i, m->net.ntensors);
    const cnn_tensor_def *t = &m->net.tensors[i];
    *out = (cnn_tensor_info){
        .key = t->key, .shape = t->shape, .trainable = t->trainable, .layer = t->node};
    return CNN_OK;
}

int cnn_model_find_tensor(const cnn_model *m, const char *key)
{
    for (int i = 0; i < m->net.ntensors; i++)
        if (strcmp(m->net.tensors[i].key, key) == 0)
            return i;
    return -1;
}

int64_t cnn_model_batches_tracked(const cnn_model *m, const char *bn_layer)
{
    for (int i = 0; i < m->net.nnodes; i++)
        if (m->net.nodes[i].bn >= 0 && strcmp(m->net.nodes[i].name, bn_layer) == 0)
            return m->batches_tracked ? m->batches_tracked[m->net.nodes[i].bn] : 0;
    return -1;
}

const char *cnn_mode_str(cnn_mode mode)
{
    return mode == CNN_MODE_TRAIN ? "train" : mode == CNN_MODE_EVAL ? "eval" : "?";
}

uint64_t cnn_model_step(const cnn_model *m)
{
    return m->step;
}

void cnn_model_set_step(cnn_model *m, uint64_t step)
{
    m->step = step;
}

/* ---- binding -------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

cnn_status model_ctx_for(cnn_model *m, const cnn_backend *be, int *out)
{
    for (int i = 0; i < m->nctx; i++)
        if (m->ctx[i]->backend == be) {
            *out = i;
            return CNN_OK;
        }
    if (m->nctx == CNN_MAX_CTX)
        return cnn_fail(CNN_ERR_INVALID_ARG, "a run may use at most %d backends", CNN_MAX_CTX);
    if (m->nctx > 0 && m->ctx[0]->backend->device != be->device)
        return cnn_fail(CNN_ERR_UNSUPPORTED,
                        "backends %s (%s) and %s (%s) run on different devices; all backends of "
                        "one run must share a device",
                        m->ctx[0]->backend->name, cnn_device_str(m->ctx[0]->backend->device),
                        be->name, cnn_device_str(be->device));
    cnn_ctx_opts co = {.threads = m->opts.threads, .device = m->opts.device};
    cnn_status st = cnn_ctx_create(be, &co, &m->ctx[m->nctx]);
    if (st != CNN_OK)
        return st;
    *out = m->nctx++;
    return CNN_OK;
}

/* The context index for the backend called `name` (the run's extra tables
 * first, then the registry). */
static cnn_status ctx_named(cnn_model *m, const char *name, int *out)
{
    const cnn_backend *be = NULL;
    cnn_status st = cnn_backend_resolve(name, m->opts.extra_backends, &be);
    return st == CNN_OK ? model_ctx_for(m, be, out) : st;
}

/* The extra tables are looked up again when a layer's fallbacks are (plan.c),
 * so the model keeps its own copy of the list. */
static cnn_status copy_extra(cnn_model *m)
{
    const cnn_backend *const *x = m->opts.extra_backends;
    size_t n = 0;
    while (x && x[n])
        n++;
    m->opts.extra_backends = NULL;
    if (!n)
        return CNN_OK;
    m->extra = malloc((n + 1) * sizeof *m->extra);
    if (!m->extra)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory");
    memcpy(m->extra, x, (n + 1) * sizeof *m->extra);
    m->opts.extra_backends = m->extra;
    return CNN_OK;
}

static cnn_status parse_backends(cnn_model *m)
{
    const cnn_backend *be[CNN_MAX_LIST];
    int n = 0;
    cnn_status st =
        cnn_backend_list_parse(m->backends_str, m->opts.extra_backends, CNN_MAX_LIST, be, &n);
    for (int i = 0; i < n && st == CNN_OK; i++) {
        st = model_ctx_for(m, be[i], &m->list[i]);
        m->nlist += st == CNN_OK;
    }
    return st;
}

static cnn_status parse_overrides(cnn_model *m)
{
    char *s = m->overrides_str;
    if (!*s)
        return CNN_OK;
    int cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    m->override = calloc((size_t)cap, sizeof *m->override);
    if (!m->override)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory for overrides");
    char *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "override '%s' is not LAYER_GLOB=BACKEND (e.g. 'layer4.*=onednn')",
                            trim(tok));
        *eq = '\0';
        char *glob = trim(tok), *name = trim(eq + 1);
        if (!*glob || !*name)
            return cnn_fail(CNN_ERR_INVALID_ARG, "override '%s=%s' has an empty side", glob, name);
        int idx;
        cnn_status st = ctx_named(m, name, &idx);
        if (st != CNN_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", cnn_last_error());
            return cnn_fail(st, "override '%s=%s': %s", glob, name, why);
        }
        bool matches = false;
        for (int i = 0; i < m->net.nnodes && !matches; i++)
            matches = fnmatch(glob, m->net.nodes[i].name, 0) == 0;
        if (!matches)
            return cnn_fail(CNN_ERR_INVALID_ARG, "override '%s=%s' matches no layer of model %s",
                            glob, name, m->desc->name);
        m->override[m->noverride].glob = strdup(glob);
        if (!m->override[m->noverride].glob)
            return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory for overrides");
        m->override[m->noverride++].ctx = idx;
    }
    return CNN_OK;
}

static cnn_status alloc_zeroed(cnn_model *m, int64_t floats, float **out)
{
    void *p = NULL;
    size_t bytes = (size_t)floats * sizeof(float);
    cnn_status st = cnn_mem_alloc(m->ctx[0], bytes, &p);
    if (st == CNN_OK)
        st = cnn_mem_zero(m->ctx[0], p, bytes);
    if (st != CNN_OK) {
        cnn_mem_free(m->ctx[0], p);
        return cnn_fail(st, "model %s: cannot allocate %.1f MiB on %s: %s", m->desc->name,
                        (double)bytes / 1048576.0, m->ctx[0]->backend->name, cnn_last_error());
    }
    *out = p;
    return CNN_OK;
}

/* The memory plan against the memory there is, before anything is allocated:
 * a batch or image size that cannot fit fails here, naming both sizes,
 * instead of at an allocation (or an overcommitted one the kernel kills). */
static cnn_status check_fits(const cnn_model *m)
{
    const double gib = 1073741824.0, f = sizeof(float);
    double params = (double)m->net.block_floats * f,
           grads = m->opts.forward_only ? 0 : (double)m->net.grad_floats * f,
           acts = (double)m->act_floats * f, ws = (double)m->ws_size;
    double need = params + grads + acts + ws, avail = 0;
    const char *from = "MemAvailable in /proc/meminfo";
    size_t used, total;
    if (!m->ctx[0]->backend->mem_alloc)
        avail = cnn_host_memory_available();
    else if (cnn_device_memory(m->ctx[0], &used, &total) == CNN_OK && total > used)
        avail = (double)(total - used), from = "free on the device";
    cnn_clear_error();
    if (avail <= 0 || need <= avail)
        return CNN_OK;
    char in[64];
    cnn_shape s = cnn_model_input_shape(m);
    cnn_shape_str(&s, in, sizeof in);
    return cnn_fail(CNN_ERR_OUT_OF_MEMORY,
                    "model %s at input %s needs %.0f bytes (%.2f GiB: parameters %.2f, gradients "
                    "%.2f, activations %.2f, workspace %.2f) on %s, more than the %.0f bytes "
                    "(%.2f GiB) available (%s); nothing was allocated",
                    m->desc->name, in, need, need / gib, params / gib, grads / gib, acts / gib,
                    ws / gib, m->ctx[0]->backend->name, avail, avail / gib, from);
}

cnn_status cnn_model_bind(cnn_model *m, const cnn_exec_opts *opts)
{
    if (m->bound || m->nctx)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s is already bound; create a new one",
                        m->desc->name);
    m->opts = *opts;
    if (!opts->backends || !*opts->backends)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: no backend given", m->desc->name);
    m->backends_str =
        malloc(strlen(opts->backends) + 1 + (opts->overrides ? strlen(opts->overrides) : 0) + 1);
    if (!m->backends_str)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory");
    strcpy(m->backends_str, opts->backends);
    m->overrides_str = m->backends_str + strlen(opts->backends) + 1;
    strcpy(m->overrides_str, opts->overrides ? opts->overrides : "");
    m->opts.backends = m->opts.overrides = NULL;

    cnn_status st = copy_extra(m);
    if (st == CNN_OK)
        st = parse_backends(m);
    if (st == CNN_OK)
        st = parse_overrides(m);
    if (st != CNN_OK)
        return st;

    int nn = m->net.nnodes;
    m->mem = calloc((size_t)nn, sizeof *m->mem);
    m->written = calloc((size_t)nn, sizeof *m->written);
    m->dropout = calloc((size_t)nn, sizeof *m->dropout);
    m->batches_tracked = calloc((size_t)m->net.nbn + 1, sizeof *m->batches_tracked);
    if (!m->mem || !m->written || !m->dropout || !m->batches_tracked)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "model %s: no memory", m->desc->name);
    st = model_plan(m);
    if (st != CNN_OK)
        return st;
    st = model_layout(m);
    if (st == CNN_OK)
        st = check_fits(m);
    if (st != CNN_OK)
        return st;
    st = alloc_zeroed(m, m->net.block_floats, &m->params);
    if (st == CNN_OK && !m->opts.forward_only)
        st = alloc_zeroed(m, m->net.grad_floats, &m->grads);
    if (st == CNN_OK)
        st = alloc_zeroed(m, m->act_floats, &m->acts);
    if (st == CNN_OK && m->ws_size)
        st = cnn_mem_alloc(m->ctx[0], m->ws_size, &m->ws);
    if (st != CNN_OK)
        return st;
    m->bound = true;
    return CNN_OK;
}

cnn_status cnn_model_memory(const cnn_model *m, cnn_model_mem *out)
{
    cnn_status st = need_bound(m, "asking for its memory");
    if (st != CNN_OK)
        return st;
    *out = (cnn_model_mem){
        .params = (size_t)m->net.block_floats * sizeof(float),
        .grads = m->grads ? (size_t)m->net.grad_floats * sizeof(float) : 0,
        .activations = (size_t)m->act_floats * sizeof(float),
        .activations_unshared = (size_t)m->act_unshared_floats * sizeof(float),
        .workspace = m->ws_size,
    };
    return CNN_OK;
}

int cnn_model_ctx_count(const cnn_model *m)
{
    return m->nctx;
}

cnn_ctx *cnn_model_ctx(const cnn_model *m, int i)
{
    return i >= 0 && i < m->nctx ? m->ctx[i] : NULL;
}

/* ---- host access ------------------------------------------------------- */

static cnn_status need_bound(const cnn_model *m, const char *what)
{
    if (!m->bound)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: bind it to a backend before %s",
                        m->desc->name, what);
    return CNN_OK;
}

static cnn_status check_count(const cnn_model *m, const char *what, int64_t want, int64_t got)
{
    if (want != got)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: %s has %lld values, %lld given",
                        m->desc->name, what, (long long)want, (long long)got);
    return CNN_OK;
}

cnn_status cnn_model_set_input(cnn_model *m, const float *host, int64_t count)
{
    cnn_status st = need_bound(m, "setting the input");
    int64_t n = net_numel(&m->net, CNN_NET_INPUT);
    if (st == CNN_OK)
        st = check_count(m, "the input", n, count);
    if (st == CNN_OK)
        st = cnn_mem_upload(m->ctx[0], model_act(m, m->x_off), host, (size_t)n * sizeof(float));
    m->have_forward = m->have_loss = false;
    return st;
}

cnn_status cnn_model_set_labels(cnn_model *m, const int32_t *host, int64_t n)
{
    cnn_status st = need_bound(m, "setting labels");
    if (st == CNN_OK)
        st = check_count(m, "the label vector", m->net.input.dim[0], n);
    for (int64_t i = 0; i < n && st == CNN_OK; i++)
        if (host[i] < 0 || host[i] >= m->net.classes)
            st = cnn_fail(CNN_ERR_INVALID_ARG, "model %s: label %lld is %d, outside [0, %d)",
                          m->desc->name, (long long)i, (int)host[i], m->net.classes);
    if (st == CNN_OK)
        st = cnn_mem_upload(m->ctx[0], model_act(m, m->labels_off), host,
                            (size_t)n * sizeof(int32_t));
    m->have_labels = st == CNN_OK;
    m->have_loss = false;
    return st;
}

static cnn_status tensor_by_key(const cnn_model *m, const char *key, int64_t count, int *out)
{
    int t = cnn_model_find_tensor(m, key);
    if (t < 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s has no tensor '%s'", m->desc->name, key);
    *out = t;
    return check_count(m, key, cnn_shape_numel(&m->net.tensors[t].shape), count);
}

cnn_status cnn_model_get_tensor(cnn_model *m, const char *key, float *host, int64_t count)
{
    int t;
    cnn_status st = need_bound(m, "reading tensors");
    if (st == CNN_OK)
        st = tensor_by_key(m, key, count, &t);
    if (st != CNN_OK)
        return st;
    return cnn_mem_download(m->ctx[0], host, model_tensor_ptr(m, t), (size_t)count * sizeof(float));
}

cnn_status cnn_model_set_tensor(cnn_model *m, const char *key, const float *host, int64_t count)
{
    int t;
    cnn_status st = need_bound(m, "writing tensors");
    if (st == CNN_OK)
        st = tensor_by_key(m, key, count, &t);
    if (st != CNN_OK)
        return st;
    m->have_forward = m->have_loss = false;
    return cnn_mem_upload(m->ctx[0], model_tensor_ptr(m, t), host, (size_t)count * sizeof(float));
}

cnn_status cnn_model_get_grad(cnn_model *m, const char *key, float *host, int64_t count)
{
    int t;
    cnn_status st = need_bound(m, "reading gradients");
    if (st == CNN_OK)
        st = tensor_by_key(m, key, count, &t);
    if (st != CNN_OK)
        return st;
    if (!m->net.tensors[t].trainable)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: '%s' is a buffer, it has no gradient",
                        m->desc->name, key);
    if (!m->grads)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s was bound forward-only: no gradients",
                        m->desc->name);
    return cnn_mem_download(m->ctx[0], host, model_grad_ptr(m, t), (size_t)count * sizeof(float));
}

cnn_status cnn_model_param_block(cnn_model *m, float **params, float **grads, int64_t *count)
{
    cnn_status st = need_bound(m, "asking for the parameter block");
    if (st != CNN_OK)
        return st;
    *params = m->params;
    *grads = m->grads;
    *count = m->net.grad_floats;
    return CNN_OK;
}

cnn_status cnn_model_get_output(cnn_model *m, int layer, float *host, int64_t count)
{
    if (!m->have_forward)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: no forward pass has run", m->desc->name);
    if (layer < 0 || layer >= m->net.nnodes)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: layer %d out of range [0, %d)",
                        m->desc->name, layer, m->net.nnodes);
    if (m->mem[layer].reused || (m->acts_spent && m->mem[layer].spent))
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "model %s: the output of layer %s is not kept: the bind reused its "
                        "memory for %s (bind with keep_activations to read every layer's "
                        "output)",
                        m->desc->name, m->net.nodes[layer].name,
                        m->mem[layer].reused ? "later layers" : "backward's tensors");
    int relu = model_fused_relu(m, layer);
    if (relu >= 0)
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "model %s: the output of layer %s is not kept: its ReLU %s runs fused "
                        "into it, which writes only the ReLU's output (bind with no_fuse, "
                        "--no-fuse, to read it)",
                        m->desc->name, m->net.nodes[layer].name, m->net.nodes[relu].name);
    cnn_status st = check_count(m, m->net.nodes[layer].name, net_numel(&m->net, layer), count);
    if (st != CNN_OK)
        return st;
    return cnn_mem_download(m->ctx[0], host, model_y(m, layer), (size_t)count * sizeof(float));
}

cnn_status cnn_model_get_logits(cnn_model *m, float *host, int64_t count)
{
    return cnn_model_get_output(m, m->net.nnodes - 1, host, count);
}

/* ---- errors, clocks and hooks ------------------------------------------- */

cnn_status model_layer_error(const cnn_model *m, int layer, cnn_pass pass, cnn_status st)
{
    char why[1024];
    snprintf(why, sizeof why, "%s", cnn_last_error());
    const cnn_op *op = model_layer_op(m, layer);
    return cnn_fail(st, "model %s, layer %s (%s %s): %s", m->desc->name, model_layer_name(m, layer),
                    op ? cnn_op_name(op) : "add", cnn_pass_str(pass), why);
}

void cnn_model_set_hook(cnn_model *m, cnn_layer_hook hook, void *user, bool sync)
{
    m->hook = hook;
    m->hook_user = user;
    m->hook_sync = sync;
}

cnn_status model_before_layer(cnn_model *m, double *t0)
{
    *t0 = cnn_wall_seconds();
    if (!m->hook || !m->hook_sync)
        return CNN_OK;
    return cnn_timer_start(m->ctx[0]);
}

cnn_status model_after_layer(cnn_model *m, int layer, cnn_phase phase, cnn_status st, double t0)
{
    if (!m->hook)
        return st;
    double s = cnn_wall_seconds() - t0;
    if (m->hook_sync) {
        /* stopped even when the layer failed, so the next start is valid */
        cnn_status tst = cnn_timer_stop(m->ctx[0], &s);
        if (st == CNN_OK)
            st = tst;
    }
    if (st == CNN_OK)
        m->hook(m->hook_user, m, layer, phase, s);
    return st;
}

void cnn_model_progress_hook(void *user, const cnn_model *m, int layer, cnn_phase phase,
                             double seconds)
{
    FILE *out = user ? user : stderr;
    const cnn_node *nd = &m->net.nodes[layer];
    char ys[64];
    fprintf(out, "%s %s %3d/%d %-28s %-18s %-18s %9.3f ms\n", m->desc->name,
            phase == CNN_PHASE_FORWARD ? "forward " : "backward", layer + 1, m->net.nnodes,
            nd->name, cnn_op_name(&nd->op), cnn_shape_str(&nd->y, ys, sizeof ys), 1e3 * seconds);
    fflush(out);
}
