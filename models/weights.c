/* Weights as PyTorch writes them: one KEY.npy per state_dict entry, from
 *   for k, v in model.state_dict().items(): np.save(f"{DIR}/{k}.npy", v.numpy())
 * Loading checks the whole directory (missing keys, extra files, dtypes and
 * shapes) into a host copy of the parameter block before anything is
 * uploaded, so a bad directory leaves the model as it was. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_internal.h"
#include "npy.h"

#define NBT_SUFFIX ".num_batches_tracked"

static void key_path(char *buf, size_t n, const char *dir, const char *key)
{
    snprintf(buf, n, "%s/%s.npy", dir, key);
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The batch-norm node whose name is `key` minus ".num_batches_tracked". */
static int nbt_node(const cnn_model *m, const char *key)
{
    size_t len = strlen(key), sl = strlen(NBT_SUFFIX);
    if (len <= sl || strcmp(key + len - sl, NBT_SUFFIX) != 0)
        return -1;
    for (int i = 0; i < m->net.nnodes; i++) {
        const cnn_node *nd = &m->net.nodes[i];
        if (nd->bn >= 0 && strlen(nd->name) == len - sl && strncmp(nd->name, key, len - sl) == 0)
            return i;
    }
    return -1;
}

/* ---- loading: every problem of a folder in one report ---- */

/* The problems found so far, as one message: the first few in full, then a
 * count, so the report fits the error buffer. */
typedef struct problems {
    char text[760];
    size_t len;
    int count, shown;
    bool dp_prefix; /* an extra key is a model key behind DataParallel's "module." */
} problems;

static void problem(problems *p, const char *fmt, ...) CNN_PRINTF(2, 3);
static void problem(problems *p, const char *fmt, ...)
{
    p->count++;
    if (p->shown >= 6 || p->len + 2 >= sizeof p->text)
        return;
    char one[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(one, sizeof one, fmt, ap);
    va_end(ap);
    int n = snprintf(p->text + p->len, sizeof p->text - p->len, "%s%s", p->shown ? "; " : "", one);
    if (n > 0 && p->len + (size_t)n < sizeof p->text) {
        p->len += (size_t)n;
        p->shown++;
    } else {
        p->text[p->len] = '\0';
    }
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

#define EXPORT_RECIPE                                                                              \
    "export a state_dict with: python3 -c \"import os, sys, torch, numpy as np; "                  \
    "sd = torch.load(sys.argv[1], map_location='cpu'); os.makedirs(sys.argv[2], exist_ok=True); "  \
    "[np.save(f'{sys.argv[2]}/{k}.npy', v.numpy()) for k, v in sd.items()]\" FILE.pt DIR"
#define EXPORT_RECIPE_NPZ                                                                          \
    "unpack it with: python3 -c \"import os, sys, numpy as np; z = np.load(sys.argv[1]); "         \
    "os.makedirs(sys.argv[2], exist_ok=True); "                                                    \
    "[np.save(f'{sys.argv[2]}/{k}.npy', z[k]) for k in z.files]\" FILE.npz DIR"

/* The weights option must name a folder: a .pt/.npz/... file or anything
 * else gets the reason and the one-line export. */
static cnn_status check_folder(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "weights %s: %s (expected a folder of KEY.npy files)",
                        dir, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return CNN_OK;
    static const char *const archives[] = {".npz", ".pt", ".pth", ".bin", ".safetensors", ".ckpt"};
    for (size_t i = 0; i < sizeof archives / sizeof *archives; i++)
        if (has_suffix(dir, archives[i]))
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "weights %s is a %s file, not a folder of KEY.npy files; %s", dir,
                            archives[i], i == 0 ? EXPORT_RECIPE_NPZ : EXPORT_RECIPE);
    return cnn_fail(CNN_ERR_INVALID_ARG,
                    "weights %s is not a folder of KEY.npy files; " EXPORT_RECIPE, dir);
}

/* Files that are no parameter or buffer of the model. */
static cnn_status find_extras(const cnn_model *m, const char *dir, problems *p)
{
    DIR *d = opendir(dir);
    if (!d)
        return cnn_fail(CNN_ERR_IO, "weights %s: cannot open the directory: %s", dir,
                        strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || !has_suffix(e->d_name, ".npy"))
            continue;
        char key[sizeof e->d_name];
        snprintf(key, sizeof key, "%.*s", (int)(len - 4), e->d_name);
        if (cnn_model_find_tensor(m, key) >= 0 || nbt_node(m, key) >= 0)
            continue;
        const char *bare = strncmp(key, "module.", 7) == 0 ? key + 7 : NULL;
        if (bare && (cnn_model_find_tensor(m, bare) >= 0 || nbt_node(m, bare) >= 0))
            p->dp_prefix = true;
        char path[4096], shape[64] = "?";
        key_path(path, sizeof path, dir, key);
        cnn_npy a;
        if (cnn_npy_read(path, &a) == CNN_OK) {
            cnn_shape_str(&a.shape, shape, sizeof shape);
            cnn_npy_free(&a);
        }
        const char *like = NULL;
        for (int t = 0; t < m->net.ntensors && !like; t++)
            if (strcasecmp(key, m->net.tensors[t].key) == 0)
                like = m->net.tensors[t].key;
        problem(p, "extra key '%s' (shape %s) is not a parameter or buffer of model %s%s%s%s", key,
                shape, m->desc->name, like ? " (it differs only in case from '" : "",
                like ? like : "", like ? "'; keys are case-sensitive)" : "");
    }
    closedir(d);
    return CNN_OK;
}

/* Read one tensor into its place in the host block, or record why not. */
static void read_tensor(const cnn_model *m, const char *dir, int t, float *host, problems *p)
{
    const cnn_tensor_def *td = &m->net.tensors[t];
    char path[4096], want[64], got[64];
    key_path(path, sizeof path, dir, td->key);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int err = errno;
        char target[256];
        ssize_t tn = lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)
                         ? readlink(path, target, sizeof target - 1)
                         : -1;
        if (tn >= 0 && err == ENOENT)
            problem(p, "key '%s': %s: a symbolic link to nothing (%.*s)", td->key, path, (int)tn,
                    target);
        else if (tn >= 0 || err != ENOENT)
            problem(p, "key '%s': %s: %s", td->key, path, strerror(err));
        else
            problem(p, "missing key '%s' (model %s expects shape %s)", td->key, m->desc->name,
                    cnn_shape_str(&td->shape, want, sizeof want));
        return;
    }
    cnn_shape shape;
    float *data = NULL;
    if (cnn_npy_read_f32(path, &shape, &data) != CNN_OK) {
        problem(p, "key '%s': %s", td->key, cnn_last_error());
        return;
    }
    int64_t bad;
    if (!cnn_shape_eq(&shape, &td->shape))
        problem(p, "key '%s' has shape %s in the file, model %s expects %s", td->key,
                cnn_shape_str(&shape, got, sizeof got), m->desc->name,
                cnn_shape_str(&td->shape, want, sizeof want));
    else if ((bad = cnn_count_nonfinite(data, cnn_shape_numel(&shape))) > 0)
        problem(p, "key '%s' holds %lld NaN or Inf values of %lld", td->key, (long long)bad,
                (long long)cnn_shape_numel(&shape));
    else
        memcpy(host + td->offset, data, (size_t)cnn_shape_numel(&shape) * sizeof *host);
    free(data);
}

static cnn_status read_nbt(const char *dir, const char *key, int64_t *out)
{
    char path[4096];
    key_path(path, sizeof path, dir, key);
    cnn_npy a;
    cnn_status st = cnn_npy_read(path, &a);
    if (st != CNN_OK)
        return st;
    int64_t n = cnn_shape_numel(&a.shape);
    if (a.shape.ndim == 0)
        n = 1;
    if (a.dtype != CNN_DTYPE_I64 || n != 1)
        st = cnn_fail(CNN_ERR_INVALID_ARG,
                      "key '%s' must be one int64 (PyTorch's num_batches_tracked), "
                      "got dtype %s with %lld values",
                      key, cnn_dtype_str(a.dtype), (long long)n);
    else
        *out = *(const int64_t *)a.data;
    cnn_npy_free(&a);
    return st;
}

/* When the model was built for an input other than its usual one (from the
 * input file's shape), a weight whose file shape is what the usual input
 * would need blames the input, not the folder: "expects input Nx3x224x224,
 * given Nx1x224x224". Returns true (and fails with that reason) then. */
static bool input_at_fault(const cnn_model *m, const char *dir)
{
    cnn_shape in = cnn_model_input_shape(m);
    const cnn_model_desc *d = m->desc;
    net_builder build = model_builder(d);
    if (!build || (in.dim[1] == d->c && in.dim[2] == d->h && in.dim[3] == d->w))
        return false;
    cnn_model_opts usual = {.batch = (int)in.dim[0],
                            .classes = (int)cnn_model_output_shape(m).dim[1]};
    cnn_model *ref = NULL;
    if (cnn_model_create_net(d, build, &usual, &ref) != CNN_OK) {
        cnn_clear_error();
        return false;
    }
    bool blamed = false;
    for (int t = 0; t < m->net.ntensors && !blamed; t++) {
        const cnn_tensor_def *td = &m->net.tensors[t];
        int rt = cnn_model_find_tensor(ref, td->key);
        char path[4096];
        key_path(path, sizeof path, dir, td->key);
        cnn_npy a;
        if (rt < 0 || cnn_shape_eq(&ref->net.tensors[rt].shape, &td->shape) ||
            cnn_npy_read(path, &a) != CNN_OK)
            continue;
        if (cnn_shape_eq(&a.shape, &ref->net.tensors[rt].shape)) {
            char given[64], want[64], ws[64];
            cnn_shape_str(&in, given, sizeof given);
            cnn_shape exp = cnn_model_input_shape(ref);
            cnn_shape_str(&exp, want, sizeof want);
            cnn_fail(CNN_ERR_INVALID_ARG,
                     "input shape %s does not fit the weights in %s: model %s with these weights "
                     "expects input %s (key '%s' is %s)",
                     given, dir, d->name, want, td->key, cnn_shape_str(&a.shape, ws, sizeof ws));
            blamed = true;
        }
        cnn_npy_free(&a);
    }
    cnn_model_destroy(ref);
    return blamed;
}

cnn_status cnn_model_load_weights(cnn_model *m, const char *dir)
{
    if (!m->bound)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: bind it to a backend before loading",
                        m->desc->name);
    cnn_status st = check_folder(dir);
    if (st != CNN_OK)
        return st;
    if (input_at_fault(m, dir))
        return CNN_ERR_INVALID_ARG;
    problems p = {.count = 0};
    float *host = calloc((size_t)m->net.block_floats, sizeof *host);
    int64_t *nbt = calloc((size_t)m->net.nbn + 1, sizeof *nbt);
    if (!host || !nbt) {
        free(host);
        free(nbt);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "weights %s: no memory for %lld values", dir,
                        (long long)m->net.block_floats);
    }
    for (int t = 0; t < m->net.ntensors; t++)
        read_tensor(m, dir, t, host, &p);
    st = find_extras(m, dir, &p);
    for (int i = 0; i < m->net.nnodes && st == CNN_OK; i++) {
        const cnn_node *nd = &m->net.nodes[i];
        char key[CNN_NAME_MAX + sizeof NBT_SUFFIX], path[4096];
        if (nd->bn < 0)
            continue;
        snprintf(key, sizeof key, "%s%s", nd->name, NBT_SUFFIX);
        key_path(path, sizeof path, dir, key);
        if (file_exists(path) && read_nbt(dir, key, &nbt[nd->bn]) != CNN_OK)
            problem(&p, "%s", cnn_last_error());
    }
    if (st == CNN_OK && p.count)
        st = cnn_fail(CNN_ERR_INVALID_ARG, "weights %s: %d problem%s: %s%s%s", dir, p.count,
                      p.count == 1 ? "" : "s", p.text, p.count > p.shown ? "; and more" : "",
                      p.dp_prefix ? " (hint: the keys carry DataParallel's 'module.' prefix; save "
                                    "model.module.state_dict() or strip it)"
                                  : "");
    if (st == CNN_OK)
        st = cnn_mem_upload(m->ctx[0], m->params, host, (size_t)m->net.block_floats * sizeof *host);
    if (st == CNN_OK)
        memcpy(m->batches_tracked, nbt, (size_t)m->net.nbn * sizeof *nbt);
    free(host);
    free(nbt);
    m->have_forward = m->have_loss = false;
    return st;
}

static cnn_status make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST)
        return CNN_OK;
    return cnn_fail(CNN_ERR_IO, "cannot create directory %s: %s", dir, strerror(errno));
}

typedef struct key_buf {
    char s[CNN_NAME_MAX + sizeof NBT_SUFFIX];
} key_buf;

/* The num_batches_tracked key of node i. */
static key_buf nbt_key(const cnn_model *m, int i)
{
    key_buf k;
    snprintf(k.s, sizeof k.s, "%s%s", m->net.nodes[i].name, NBT_SUFFIX);
    return k;
}

static cnn_status write_part(const char *dir, const char *key, cnn_dtype dtype,
                             const cnn_shape *shape, const void *data)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy.part", dir, key);
    return cnn_npy_write(path, dtype, shape, data);
}

/* Rename KEY.npy.part to KEY.npy (keep), or remove it; the first failed
 * rename becomes *st. */
static void finish_part(const char *dir, const char *key, bool keep, cnn_status *st)
{
    char part[4096], path[4096];
    snprintf(part, sizeof part, "%s/%s.npy.part", dir, key);
    key_path(path, sizeof path, dir, key);
    if (!keep) {
        remove(part);
    } else if (rename(part, path) != 0 && *st == CNN_OK) {
        *st = cnn_fail(CNN_ERR_IO, "weights %s: cannot rename %s to %s: %s", dir, part, path,
                       strerror(errno));
    }
}

cnn_status cnn_model_save_weights(cnn_model *m, const char *dir)
{
    if (!m->bound)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: bind it to a backend before saving",
                        m->desc->name);
    cnn_status st = make_dir(dir);
    if (st != CNN_OK)
        return st;
    float *host = malloc((size_t)m->net.block_floats * sizeof *host);
    if (!host)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "weights %s: no memory for %lld values", dir,
                        (long long)m->net.block_floats);
    st = cnn_mem_download(m->ctx[0], host, m->params, (size_t)m->net.block_floats * sizeof *host);
    /* Every file goes to KEY.npy.part first and is renamed only when all are
     * written: a full disk leaves the folder's old weights whole, not half
     * replaced by the new ones. */
    int t = 0, i = 0;
    for (; t < m->net.ntensors && st == CNN_OK; t++) {
        const cnn_tensor_def *td = &m->net.tensors[t];
        st = write_part(dir, td->key, CNN_DTYPE_F32, &td->shape, host + td->offset);
    }
    cnn_shape scalar = {.ndim = 0};
    for (; i < m->net.nnodes && st == CNN_OK; i++)
        if (m->net.nodes[i].bn >= 0)
            st = write_part(dir, nbt_key(m, i).s, CNN_DTYPE_I64, &scalar,
                            &m->batches_tracked[m->net.nodes[i].bn]);
    for (int k = 0; k < t; k++)
        finish_part(dir, m->net.tensors[k].key, st == CNN_OK, &st);
    for (int k = 0; k < i; k++)
        if (m->net.nodes[k].bn >= 0)
            finish_part(dir, nbt_key(m, k).s, st == CNN_OK, &st);
    free(host);
    return st;
}
