/* Checkpoints of cnnbench train (train.h): RUN/checkpoints/TAG/epoch-NNNN/
 *   weights/KEY.npy       every state_dict entry (cnn_model_save_weights's
 *                         layout: batch-norm statistics and
 *                         num_batches_tracked included)
 *   optimizer.npy         the optimizer's state, float32 [count] laid out as
 *                         the parameter block (none for plain SGD)
 *   checkpoint.json       written last: what the checkpoint is of (model,
 *                         input, classes, batch, seed, optimizer and its
 *                         hyper-parameters), where the training stands
 *                         (epochs done, optimizer step, model step) and
 *                         every file's size and FNV-1a 64 checksum
 * The folder is built as a hidden ".epoch-NNNN.tmp-PID" beside its final
 * name, every file fsync'd, then renamed into place: a reader (--resume)
 * finds a whole checkpoint or none, and checks each file against
 * checkpoint.json before anything is loaded.
 *
 * Test only: CNNBENCH_TEST_KILL_IN_CHECKPOINT=N:json makes the N-th save of
 * the process raise SIGKILL once checkpoint.json's temporary file holds
 * part of its text (the weights written, the hidden folder not renamed);
 * N:renamed, once the folder is renamed into place but the older
 * checkpoints are not yet removed. tests/test_faults_train.c uses it. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "json_read.h"
#include "npy.h"
#include "train.h"

#define FORMAT "cnnbench-train-checkpoint-1"

static const char *optim_name(cnn_optim_mode m)
{
    return m == CNN_OPTIM_ADAM ? "adam" : "sgd";
}

/* size and FNV-1a 64 of a file; false with errno's reason in why. */
static bool file_sum(const char *path, int64_t *size, uint64_t *hash, char *why, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, n, "%s", strerror(errno));
        return false;
    }
    /* a device or FIFO could be read forever (/dev/zero) or block */
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(why, n, "not a regular file");
        fclose(f);
        return false;
    }
    unsigned char buf[1 << 16];
    uint64_t h = 14695981039346656037ull;
    int64_t total = 0;
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < got; i++)
            h = (h ^ buf[i]) * 1099511628211ull;
        total += (int64_t)got;
    }
    bool ok = !ferror(f);
    if (!ok)
        snprintf(why, n, "read error");
    fclose(f);
    *size = total;
    *hash = h;
    return ok;
}

static cnn_status fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cnn_fail(CNN_ERR_IO, "checkpoint: cannot fsync %s: %s", path, strerror(e));
    }
    close(fd);
    return CNN_OK;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A checkpoint's place in the training, for ordering them. */
static int64_t position(int epochs_done, int64_t batches_done)
{
    return (int64_t)epochs_done * ((int64_t)1 << 40) + batches_done;
}

/* The position of a checkpoint folder's name ("epoch-0003",
 * "epoch-0003-batch-000120"); -1 for any other name (the hidden ones
 * being built among them). */
static int64_t parse_name(const char *name)
{
    int k, len = 0;
    long long b = 0;
    if (sscanf(name, "epoch-%4d%n", &k, &len) != 1 || len != 10 || k < 0)
        return -1;
    if (name[len] == '\0')
        return position(k, 0);
    int len2 = 0;
    if (sscanf(name + len, "-batch-%6lld%n", &b, &len2) != 1 || len2 != 13 || b < 1 ||
        name[len + len2] != '\0')
        return -1;
    return position(k, b);
}

/* The identity of the checkpoint and where the training stands. */
static void write_identity(FILE *f, cnn_model *m, const train_cfg *cfg, const train_job *job,
                           const train_state *st)
{
    cnn_shape in = cnn_model_input_shape(m);
    const cnn_optim_desc *o = &cfg->optim;
    fprintf(f,
            "{\n  \"format\": \"" FORMAT "\",\n  \"model\": \"%s\",\n  \"input\": \"%dx%dx%d\",\n"
            "  \"classes\": %d,\n  \"batch\": %d,\n  \"seed\": \"%" PRIu64 "\",\n"
            "  \"backend\": \"%s\",\n  \"optimizer\": \"%s\",\n  \"lr\": %.17g,\n"
            "  \"momentum\": %.17g,\n  \"beta1\": %.17g,\n  \"beta2\": %.17g,\n  \"eps\": %.17g,\n"
            "  \"weight_decay\": %.17g,\n  \"epochs_done\": %d,\n  \"optim_step\": %" PRId64 ",\n"
            "  \"model_step\": %" PRId64 ",\n  \"batches_done\": %" PRId64 ",\n"
            "  \"correct\": %" PRId64 ",\n  \"loss_sum\": %.17g,\n  \"train_s\": %.17g,\n"
            "  \"wait_s\": %.17g,\n",
            cnn_model_name(m), (int)in.dim[1], (int)in.dim[2], (int)in.dim[3], cfg->classes,
            cfg->batch, cfg->seed, job->tag, optim_name(o->mode), o->lr, o->momentum, o->beta1,
            o->beta2, o->eps, o->weight_decay, st->epochs_done, st->optim_step, st->model_step,
            st->batches_done, st->correct, st->loss_sum, st->train_s, st->wait_s);
}

/* "files": {"weights/KEY.npy": "SIZE FNV", ...} for every file under dir. */
static cnn_status write_files(FILE *f, const char *dir)
{
    const char *subs[2] = {"weights", "."};
    int nfiles = 0;
    fprintf(f, "  \"files\": {");
    for (int s = 0; s < 2; s++) {
        char sub[4500];
        snprintf(sub, sizeof sub, "%s/%s", dir, subs[s]);
        DIR *d = opendir(sub);
        if (!d)
            return cnn_fail(CNN_ERR_IO, "checkpoint: cannot list %s: %s", sub, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *name = e->d_name;
            size_t len = strlen(name);
            if (name[0] == '.' || len < 5 || strcmp(name + len - 4, ".npy") != 0)
                continue;
            char path[4800], why[256], rel[600];
            snprintf(path, sizeof path, "%s/%s", sub, name);
            snprintf(rel, sizeof rel, "%s%s", s ? "" : "weights/", name);
            int64_t size;
            uint64_t h;
            if (!file_sum(path, &size, &h, why, sizeof why)) {
                closedir(d);
                return cnn_fail(CNN_ERR_IO, "checkpoint: cannot read %s: %s", path, why);
            }
            fprintf(f, "%s\n    ", nfiles++ ? "," : "");
            report_json_string(f, rel);
            fprintf(f, ": \"%" PRId64 " %016" PRIx64 "\"", size, h);
        }
        closedir(d);
    }
    fprintf(f, "\n  }\n}\n");
    return CNN_OK;
}

static cnn_status save_optimizer(cnn_model *m, const char *dir)
{
    float *dev = NULL;
    int64_t count = 0, step = 0;
    cnn_status st = cnn_model_optimizer_state(m, &dev, &count, &step);
    if (st != CNN_OK || count == 0)
        return st;
    float *host = malloc((size_t)count * sizeof *host);
    if (!host)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "checkpoint: no memory for the optimizer state");
    st = cnn_mem_download(cnn_model_ctx(m, 0), host, dev, (size_t)count * sizeof *host);
    char path[4500];
    snprintf(path, sizeof path, "%s/optimizer.npy", dir);
    cnn_shape s = cnn_shape1(count);
    if (st == CNN_OK)
        st = cnn_npy_write_f32(path, &s, host);
    free(host);
    return st;
}

/* The test-only kill (see the top of this file) at `stage` of save `save`. */
static void test_kill(int save, const char *stage, FILE *partial)
{
    const char *e = getenv("CNNBENCH_TEST_KILL_IN_CHECKPOINT");
    int at = 0;
    char where[16] = "";
    if (!e || sscanf(e, "%d:%15s", &at, where) != 2 || at != save || strcmp(where, stage) != 0)
        return;
    if (partial)
        fflush(partial);
    raise(SIGKILL);
}

cnn_status train_checkpoint_save(cnn_model *m, const train_cfg *cfg, const train_job *job,
                                 const train_state *ts)
{
    static int saves;
    int save = ++saves;
    char dir[4200], tmp[4400], fin[4400], sub[4500];
    snprintf(dir, sizeof dir, "%s/checkpoints/%s", cfg->run_path, job->tag);
    char name[64];
    if (ts->batches_done > 0)
        snprintf(name, sizeof name, "epoch-%04d-batch-%06lld", ts->epochs_done,
                 (long long)ts->batches_done);
    else
        snprintf(name, sizeof name, "epoch-%04d", ts->epochs_done);
    snprintf(fin, sizeof fin, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%ld", dir, name, (long)getpid());
    cnn_status st = report_mkdirs(dir);
    if (st != CNN_OK)
        return st;
    rm_tree(tmp);
    if (mkdir(tmp, 0755) != 0)
        return cnn_fail(CNN_ERR_IO, "checkpoint: cannot create %s: %s", tmp, strerror(errno));
    snprintf(sub, sizeof sub, "%s/weights", tmp);
    st = cnn_model_save_weights(m, sub);
    if (st == CNN_OK)
        st = save_optimizer(m, tmp);
    cnn_atomic_file af = {0};
    char json[4500];
    snprintf(json, sizeof json, "%s/checkpoint.json", tmp);
    if (st == CNN_OK)
        st = cnn_atomic_open(&af, json);
    if (st == CNN_OK) {
        write_identity(af.f, m, cfg, job, ts);
        test_kill(save, "json", af.f);
        st = cnn_atomic_finish(&af, write_files(af.f, tmp));
    }
    if (st == CNN_OK)
        st = fsync_path(sub);
    if (st == CNN_OK)
        st = fsync_path(tmp);
    if (st == CNN_OK && rename(tmp, fin) != 0)
        st = cnn_fail(CNN_ERR_IO, "checkpoint: cannot rename %s to %s: %s", tmp, fin,
                      strerror(errno));
    if (st == CNN_OK)
        st = fsync_path(dir);
    if (st == CNN_OK)
        test_kill(save, "renamed", NULL);
    if (st != CNN_OK) {
        rm_tree(tmp);
        return st;
    }
    /* the new one is in place: the older ones go */
    DIR *d = opendir(dir);
    struct dirent *e;
    int64_t pos = position(ts->epochs_done, ts->batches_done);
    while (d && (e = readdir(d))) {
        char old[4500];
        int64_t k = parse_name(e->d_name);
        if (k >= 0 && k < pos) {
            snprintf(old, sizeof old, "%s/%s", dir, e->d_name);
            rm_tree(old);
        }
    }
    if (d)
        closedir(d);
    return CNN_OK;
}

/* The newest checkpoint of tag in run folder run itself; "" if none. */
static void find_in(const char *run, const char *tag, char *path, size_t n)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/checkpoints/%s", run, tag);
    path[0] = '\0';
    DIR *d = opendir(dir);
    if (!d)
        return;
    int64_t best = -1;
    char name[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t k = parse_name(e->d_name);
        if (k > best) {
            best = k;
            snprintf(name, sizeof name, "%s", e->d_name);
        }
    }
    closedir(d);
    if (best >= 0)
        snprintf(path, n, "%s/%s", dir, name);
}

cnn_status train_checkpoint_find(const char *run, const char *tag, char *path, size_t n)
{
    /* a resumed run stopped before its first checkpoint: the run it
     * resumed (meta.json "resume"), and so on back */
    char at[4096];
    snprintf(at, sizeof at, "%s", run);
    for (int hop = 0; hop < 64; hop++) {
        find_in(at, tag, path, n);
        char meta[4200];
        snprintf(meta, sizeof meta, "%s/meta.json", at);
        json_doc *j = NULL;
        if (*path || access(meta, F_OK) != 0 || json_read(meta, &j) != CNN_OK)
            return CNN_OK;
        const char *prev = json_str(j, "resume", NULL);
        bool more = prev && strcmp(prev, at) != 0;
        if (more)
            snprintf(at, sizeof at, "%s", prev);
        json_free(j);
        if (!more)
            return CNN_OK;
    }
    return CNN_OK;
}

/* A member of checkpoint.json compared with this run's value. */
static cnn_status want_str(const json_doc *j, const char *key, const char *want)
{
    const char *got = json_str(j, key, NULL);
    if (!got)
        return cnn_fail(CNN_ERR_INVALID_ARG, "checkpoint %s has no \"%s\"", j->path, key);
    if (strcmp(got, want) != 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "checkpoint %s is of %s %s, this run's %s is %s",
                        j->path, key, got, key, want);
    return CNN_OK;
}

static cnn_status want_num(const json_doc *j, const char *key, double want)
{
    double got = json_num(j, key);
    if (got != want)
        return cnn_fail(CNN_ERR_INVALID_ARG, "checkpoint %s has %s %.9g, this run's %s is %.9g",
                        j->path, key, got, key, want);
    return CNN_OK;
}

static cnn_status check_identity(const json_doc *j, cnn_model *m, const train_cfg *cfg)
{
    const cnn_optim_desc *o = &cfg->optim;
    cnn_shape in = cnn_model_input_shape(m);
    char input[64], seed[32];
    snprintf(input, sizeof input, "%dx%dx%d", (int)in.dim[1], (int)in.dim[2], (int)in.dim[3]);
    snprintf(seed, sizeof seed, "%" PRIu64, cfg->seed);
    cnn_status st = want_str(j, "format", FORMAT);
    if (st == CNN_OK)
        st = want_str(j, "model", cnn_model_name(m));
    if (st == CNN_OK)
        st = want_str(j, "input", input);
    if (st == CNN_OK)
        st = want_num(j, "classes", cfg->classes);
    if (st == CNN_OK)
        st = want_num(j, "batch", cfg->batch);
    if (st == CNN_OK)
        st = want_str(j, "seed", seed);
    if (st == CNN_OK)
        st = want_str(j, "optimizer", optim_name(o->mode));
    const char *keys[6] = {"lr", "momentum", "beta1", "beta2", "eps", "weight_decay"};
    double vals[6] = {o->lr, o->momentum, o->beta1, o->beta2, o->eps, o->weight_decay};
    for (int i = 0; i < 6 && st == CNN_OK; i++)
        if (o->mode == CNN_OPTIM_ADAM ? i != 1 : i < 2 || i == 5)
            st = want_num(j, keys[i], vals[i]);
    return st;
}

/* Is rel a path inside the checkpoint folder: relative, no ".." part? */
static bool inside(const char *rel)
{
    if (rel[0] == '/')
        return false;
    for (const char *p = rel; (p = strstr(p, "..")); p += 2)
        if ((p == rel || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return false;
    return true;
}

/* Every file checkpoint.json lists has its size and checksum. */
static cnn_status check_files(const json_doc *j, const char *dir)
{
    for (int i = 0; i < j->n; i++) {
        const json_member *mb = &j->m[i];
        if (strncmp(mb->key, "files.", 6) != 0)
            continue;
        if (!inside(mb->key + 6))
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "checkpoint %s: entry %s names a file outside the checkpoint folder",
                            j->path, mb->key);
        char path[4500], why[256];
        snprintf(path, sizeof path, "%s/%s", dir, mb->key + 6);
        int64_t want_size = -1, size;
        uint64_t want_hash = 0, hash;
        if (sscanf(mb->value, "%" SCNd64 " %" SCNx64, &want_size, &want_hash) != 2)
            return cnn_fail(CNN_ERR_INVALID_ARG, "checkpoint %s: entry %s is not \"SIZE HASH\"",
                            j->path, mb->key);
        if (!file_sum(path, &size, &hash, why, sizeof why))
            return cnn_fail(CNN_ERR_INVALID_ARG, "checkpoint file %s: %s", path, why);
        if (size != want_size)
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "checkpoint file %s is truncated or changed: %" PRId64
                            " bytes, %s says %" PRId64,
                            path, size, j->path, want_size);
        if (hash != want_hash)
            return cnn_fail(CNN_ERR_INVALID_ARG,
                            "checkpoint file %s is corrupt: its checksum differs from %s's", path,
                            j->path);
    }
    return CNN_OK;
}

static cnn_status load_optimizer(cnn_model *m, const char *dir, int64_t step)
{
    float *dev = NULL, *host = NULL;
    int64_t count = 0, cur;
    cnn_status st = cnn_model_optimizer_state(m, &dev, &count, &cur);
    if (st == CNN_OK && count > 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/optimizer.npy", dir);
        cnn_shape s;
        st = cnn_npy_read_f32(path, &s, &host);
        if (st == CNN_OK && cnn_shape_numel(&s) != count)
            st = cnn_fail(CNN_ERR_INVALID_ARG,
                          "checkpoint file %s holds %lld values, the optimizer's state is %lld",
                          path, (long long)cnn_shape_numel(&s), (long long)count);
        if (st == CNN_OK)
            st = cnn_mem_upload(cnn_model_ctx(m, 0), dev, host, (size_t)count * sizeof *host);
        free(host);
    }
    if (st == CNN_OK)
        st = cnn_model_optimizer_set_step(m, step);
    return st;
}

cnn_status train_checkpoint_load(cnn_model *m, const train_cfg *cfg, const char *dir,
                                 train_state *ts)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint.json", dir);
    json_doc *j = NULL;
    cnn_status st = json_read(path, &j);
    if (st != CNN_OK) {
        char why[1024]; /* cnn_last_error()'s buffer is the one cnn_fail writes */
        snprintf(why, sizeof why, "%s", cnn_last_error());
        return cnn_fail(st, "checkpoint: %s", why);
    }
    st = check_identity(j, m, cfg);
    if (st == CNN_OK)
        st = check_files(j, dir);
    const char *keys[8] = {"epochs_done", "optim_step", "model_step", "batches_done",
                           "correct",     "loss_sum",   "train_s",    "wait_s"};
    /* the counts are whole numbers their types hold (epochs_done an int, the others exact
     * in a double), the sums and times finite */
    const double most[5] = {INT_MAX, 0x1p53, 0x1p53, 0x1p53, 0x1p53};
    double v[8];
    for (int i = 0; i < 8; i++) {
        v[i] = json_num(j, keys[i]);
        if (st == CNN_OK && !(v[i] >= 0))
            st = cnn_fail(CNN_ERR_INVALID_ARG, "checkpoint %s has no valid \"%s\"", path, keys[i]);
        else if (st == CNN_OK && i < 5 && (!(v[i] <= most[i]) || v[i] != floor(v[i])))
            st = cnn_fail(CNN_ERR_INVALID_ARG,
                          "checkpoint %s has \"%s\" %.10g, expected a whole number from 0 to %.0f",
                          path, keys[i], v[i], most[i]);
        else if (st == CNN_OK && !isfinite(v[i]))
            st = cnn_fail(CNN_ERR_INVALID_ARG,
                          "checkpoint %s has \"%s\" %g, expected a finite number >= 0", path,
                          keys[i], v[i]);
    }
    json_free(j);
    char wdir[4300];
    snprintf(wdir, sizeof wdir, "%s/weights", dir);
    if (st == CNN_OK)
        st = cnn_model_load_weights(m, wdir);
    if (st == CNN_OK)
        st = load_optimizer(m, dir, (int64_t)v[1]);
    if (st != CNN_OK)
        return st;
    cnn_model_set_step(m, (uint64_t)v[2]);
    *ts = (train_state){.epochs_done = (int)v[0],
                        .optim_step = (int64_t)v[1],
                        .model_step = (int64_t)v[2],
                        .batches_done = (int64_t)v[3],
                        .correct = (int64_t)v[4],
                        .loss_sum = v[5],
                        .train_s = v[6],
                        .wait_s = v[7]};
    return CNN_OK;
}
