/* Weights as PyTorch writes them: one KEY.npy per state_dict entry, from
 *   for k, v in model.state_dict().items(): np.save(f"{DIR}/{k}.npy", v.numpy())
 * Loading checks the whole directory (missing keys, extra files, dtypes and
 * shapes) into a host copy of the parameter block before anything is
 * uploaded, so a bad directory leaves the model as it was. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static cnn_status check_extras(const cnn_model *m, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return cnn_fail(CNN_ERR_IO, "weights %s: cannot open the directory: %s", dir,
                        strerror(errno));
    cnn_status st = CNN_OK;
    struct dirent *e;
    while (st == CNN_OK && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".npy") != 0)
            continue;
        char key[sizeof e->d_name];
        snprintf(key, sizeof key, "%.*s", (int)(len - 4), e->d_name);
        if (cnn_model_find_tensor(m, key) >= 0 || nbt_node(m, key) >= 0)
            continue;
        char path[4096], shape[64] = "?";
        key_path(path, sizeof path, dir, key);
        cnn_npy a;
        if (cnn_npy_read(path, &a) == CNN_OK) {
            cnn_shape_str(&a.shape, shape, sizeof shape);
            cnn_npy_free(&a);
        }
        st = cnn_fail(CNN_ERR_INVALID_ARG,
                      "weights %s: extra key '%s' (shape %s) is not a parameter or buffer of "
                      "model %s",
                      dir, key, shape, m->desc->name);
    }
    closedir(d);
    return st;
}

static cnn_status read_tensor(const cnn_model *m, const char *dir, int t, float *host)
{
    const cnn_tensor_def *td = &m->net.tensors[t];
    char path[4096], want[64], got[64];
    key_path(path, sizeof path, dir, td->key);
    cnn_shape shape;
    float *data = NULL;
    cnn_status st = cnn_npy_read_f32(path, &shape, &data);
    if (st != CNN_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail(st, "weights %s: key '%s': %s", dir, td->key, why);
    }
    if (!cnn_shape_eq(&shape, &td->shape)) {
        free(data);
        return cnn_fail(CNN_ERR_INVALID_ARG,
                        "weights %s: key '%s' has shape %s in the file, model %s expects %s", dir,
                        td->key, cnn_shape_str(&shape, got, sizeof got), m->desc->name,
                        cnn_shape_str(&td->shape, want, sizeof want));
    }
    memcpy(host + td->offset, data, (size_t)cnn_shape_numel(&shape) * sizeof *host);
    free(data);
    return CNN_OK;
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
                      "weights %s: key '%s' must be one int64 (PyTorch's num_batches_tracked), "
                      "got dtype %s with %lld values",
                      dir, key, cnn_dtype_str(a.dtype), (long long)n);
    else
        *out = *(const int64_t *)a.data;
    cnn_npy_free(&a);
    return st;
}

cnn_status cnn_model_load_weights(cnn_model *m, const char *dir)
{
    if (!m->bound)
        return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: bind it to a backend before loading",
                        m->desc->name);
    char path[4096], want[64];
    for (int t = 0; t < m->net.ntensors; t++) {
        const cnn_tensor_def *td = &m->net.tensors[t];
        key_path(path, sizeof path, dir, td->key);
        if (!file_exists(path))
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "weights %s: missing key '%s' (model %s expects shape %s in %s)", dir,
                            td->key, m->desc->name, cnn_shape_str(&td->shape, want, sizeof want),
                            path);
    }
    cnn_status st = check_extras(m, dir);
    if (st != CNN_OK)
        return st;
    float *host = calloc((size_t)m->net.block_floats, sizeof *host);
    int64_t *nbt = calloc((size_t)m->net.nbn + 1, sizeof *nbt);
    if (!host || !nbt)
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "weights %s: no memory for %lld values", dir,
                      (long long)m->net.block_floats);
    for (int t = 0; t < m->net.ntensors && st == CNN_OK; t++)
        st = read_tensor(m, dir, t, host);
    for (int i = 0; i < m->net.nnodes && st == CNN_OK; i++) {
        const cnn_node *nd = &m->net.nodes[i];
        char key[CNN_NAME_MAX + sizeof NBT_SUFFIX];
        if (nd->bn < 0)
            continue;
        snprintf(key, sizeof key, "%s%s", nd->name, NBT_SUFFIX);
        key_path(path, sizeof path, dir, key);
        if (file_exists(path))
            st = read_nbt(dir, key, &nbt[nd->bn]);
    }
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
    char path[4096];
    for (int t = 0; t < m->net.ntensors && st == CNN_OK; t++) {
        const cnn_tensor_def *td = &m->net.tensors[t];
        key_path(path, sizeof path, dir, td->key);
        st = cnn_npy_write_f32(path, &td->shape, host + td->offset);
    }
    for (int i = 0; i < m->net.nnodes && st == CNN_OK; i++) {
        const cnn_node *nd = &m->net.nodes[i];
        if (nd->bn < 0)
            continue;
        char key[CNN_NAME_MAX + sizeof NBT_SUFFIX];
        snprintf(key, sizeof key, "%s%s", nd->name, NBT_SUFFIX);
        key_path(path, sizeof path, dir, key);
        cnn_shape scalar = {.ndim = 0};
        st = cnn_npy_write(path, CNN_DTYPE_I64, &scalar, &m->batches_tracked[nd->bn]);
    }
    free(host);
    return st;
}
