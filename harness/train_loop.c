/* One backend's training (train.h): epochs of full training batches in
 * train mode (dropout, batch statistics), then the whole test set in eval
 * mode, the epoch's row, and a checkpoint. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "data_loader.h"
#include "finite.h"
#include "progress.h"
#include "run_dir.h"
#include "train.h"

typedef struct train_bufs {
    float *x, *logits;
    int32_t *pred;
    int64_t image; /* floats per model input image: c * h * w */
} train_bufs;

/* The batch into the model's input: the loader's one channel copied into
 * each of the model's c, rows past b->n zero (eval's padding). */
static cnn_status put_batch(cnn_model *m, const cnn_batch *b, int batch, int c, train_bufs *w)
{
    int64_t hw = (int64_t)b->h * b->w;
    for (int i = 0; i < batch; i++)
        for (int ch = 0; ch < c; ch++) {
            float *dst = w->x + ((int64_t)i * c + ch) * hw;
            if (i < b->n)
                memcpy(dst, b->x + (int64_t)i * hw, (size_t)hw * sizeof *dst);
            else
                memset(dst, 0, (size_t)hw * sizeof *dst);
        }
    return cnn_model_set_input(m, w->x, (int64_t)batch * w->image);
}

/* The run stops at non-finite logits or loss, naming the first layer that
 * made them (models/finite.h), before any checkpoint holds them. */
static cnn_status diverged(cnn_model *m, cnn_mode mode, const train_cfg *cfg, const char *what)
{
    char where[768];
    cnn_status st = cnn_model_first_nonfinite(m, mode, where, sizeof where);
    if (st != CNN_OK)
        return st;
    return cnn_fail(CNN_ERR_INVALID_ARG, "model %s: %s (diverged): %s; no checkpoint written",
                    cfg->model, what, where);
}

/* Test only: CNNBENCH_TEST_SCALE_WEIGHTS=STEP:FACTOR multiplies the
 * weights by FACTOR before training step STEP (1-based), to make a run
 * diverge where a test wants it. */
static cnn_status test_scale(cnn_model *m)
{
    const char *e = getenv("CNNBENCH_TEST_SCALE_WEIGHTS");
    long long at = 0;
    double factor = 1;
    if (e && sscanf(e, "%lld:%lf", &at, &factor) == 2 && (long long)cnn_model_step(m) + 1 == at)
        return cnn_model_scale_params(m, factor);
    return CNN_OK;
}

/* The whole test set in eval mode: confusion matrix, loss sum, count. */
static cnn_status evaluate(cnn_model *m, cnn_loader *l, const train_cfg *cfg, train_bufs *w,
                           int64_t *conf, double *loss_sum, int64_t *n)
{
    memset(conf, 0, sizeof *conf * (size_t)cfg->classes * (size_t)cfg->classes);
    *loss_sum = 0;
    *n = 0;
    cnn_status st = cnn_loader_begin(l, 0);
    cnn_batch b;
    while (st == CNN_OK && cnn_loader_next(l, &b)) {
        st = put_batch(m, &b, cfg->batch, cfg->c, w);
        if (st == CNN_OK)
            st = cnn_model_forward(m, CNN_MODE_EVAL);
        if (st == CNN_OK)
            st = cnn_model_get_logits(m, w->logits, (int64_t)cfg->batch * cfg->classes);
        if (st == CNN_OK && cnn_count_nonfinite(w->logits, (int64_t)b.n * cfg->classes))
            st = diverged(m, CNN_MODE_EVAL, cfg, "the test logits hold NaN or Inf");
        if (st != CNN_OK)
            break;
        train_predict(w->logits, b.n, cfg->classes, w->pred);
        *loss_sum += train_xent_sum(w->logits, b.y, b.n, cfg->classes);
        for (int i = 0; i < b.n; i++)
            conf[(int64_t)b.y[i] * cfg->classes + w->pred[i]]++;
        *n += b.n;
    }
    return st;
}

/* One training step on a full batch: the loss and the correct predictions. */
static cnn_status step(cnn_model *m, const cnn_batch *b, const train_cfg *cfg, train_bufs *w,
                       float *loss, int64_t *correct)
{
    cnn_status st = test_scale(m);
    if (st == CNN_OK)
        st = put_batch(m, b, cfg->batch, cfg->c, w);
    if (st == CNN_OK)
        st = cnn_model_set_labels(m, b->y, b->n);
    if (st == CNN_OK)
        st = cnn_model_forward(m, CNN_MODE_TRAIN);
    if (st == CNN_OK)
        st = cnn_model_loss(m, NULL);
    if (st == CNN_OK)
        st = cnn_model_backward(m);
    /* The one sync per step: the host needs the loss for the epoch's mean
     * (4 bytes) and the logits for the training accuracy, both read before
     * the optimizer step makes them stale. */
    if (st == CNN_OK)
        st = cnn_model_get_loss(m, loss);
    if (st == CNN_OK)
        st = cnn_model_get_logits(m, w->logits, (int64_t)cfg->batch * cfg->classes);
    if (st == CNN_OK && !isfinite(*loss)) {
        char what[96];
        snprintf(what, sizeof what, "the training loss of step %llu is %g",
                 (unsigned long long)cnn_model_step(m), (double)*loss);
        st = diverged(m, CNN_MODE_TRAIN, cfg, what);
    }
    if (st == CNN_OK)
        st = cnn_model_optimizer_step(m);
    if (st != CNN_OK)
        return st;
    train_predict(w->logits, b->n, cfg->classes, w->pred);
    for (int i = 0; i < b->n; i++)
        *correct += w->pred[i] == b->y[i];
    return CNN_OK;
}

/* The metrics of the last evaluation into the job, for the summary. */
static void finish_metrics(const train_cfg *cfg, train_job *job, double loss_sum, int64_t n,
                           train_epoch *e)
{
    int64_t right = 0, classes = cfg->classes;
    for (int64_t c = 0; c < classes; c++)
        right += job->confusion[c * classes + c];
    train_class_metrics per[TRAIN_MAX_CLASSES];
    e->macro_f1 = train_macro_f1(job->confusion, cfg->classes, per);
    memcpy(e->per, per, sizeof e->per);
    e->test_loss = n ? loss_sum / (double)n : NAN;
    e->test_acc = n ? (double)right / (double)n : NAN;
    job->final_test_acc = e->test_acc;
    job->final_macro_f1 = e->macro_f1;
}

static cnn_status final_eval(cnn_model *m, cnn_loader *l, const train_cfg *cfg, train_bufs *w,
                             train_job *job)
{
    double loss_sum = 0;
    int64_t n = 0;
    train_epoch e = {0};
    cnn_status st = evaluate(m, l, cfg, w, job->confusion, &loss_sum, &n);
    if (st == CNN_OK)
        finish_metrics(cfg, job, loss_sum, n, &e);
    return st;
}

static cnn_status setup(const train_cfg *cfg, const train_job *job, cnn_model **m)
{
    cnn_model_opts mo = {.batch = cfg->batch,
                         .classes = cfg->classes,
                         .c = cfg->c,
                         .h = cfg->image_size,
                         .w = cfg->image_size};
    cnn_status st = cnn_model_create(cfg->model, &mo, m);
    cnn_exec_opts e = {.backends = job->backends,
                       .plan = job->plan,
                       .nplan = job->nplan,
                       .threads = cfg->threads,
                       .seed = cfg->seed,
                       .no_fuse = cfg->no_fuse};
    if (st == CNN_OK)
        st = cnn_model_bind(*m, &e);
    if (st == CNN_OK)
        st = cnn_model_init_params(*m, cfg->seed);
    cnn_optim_desc d = cfg->optim;
    if (st == CNN_OK)
        st = cnn_model_optimizer_init(*m, &d);
    return st;
}

/* Continue from the resumed run's newest checkpoint of this backend, if any. */
static cnn_status resume(cnn_model *m, const train_cfg *cfg, const train_job *job, report_csv *csv,
                         train_state *ts)
{
    char ck[4400];
    cnn_status st = train_checkpoint_find(cfg->resume, job->tag, ck, sizeof ck);
    if (st != CNN_OK || !*ck) {
        printf("%s: no checkpoint in %s/checkpoints/%s: training from the start\n", job->tag,
               cfg->resume, job->tag);
        return st;
    }
    st = train_checkpoint_load(m, cfg, ck, ts);
    /* the rows from the run that holds it: RUN/checkpoints/TAG/NAME */
    char run[4400];
    snprintf(run, sizeof run, "%s", ck);
    for (int up = 0; up < 3 && strrchr(run, '/'); up++)
        *strrchr(run, '/') = '\0';
    if (st == CNN_OK)
        st = train_csv_copy(csv, run, job->tag, ts->epochs_done);
    if (st == CNN_OK)
        printf("%s: resuming after epoch %d (and %lld batches of the next) from %s\n", job->tag,
               ts->epochs_done, (long long)ts->batches_done, ck);
    return st;
}

static void print_epoch(const train_job *job, const train_cfg *cfg, const train_epoch *e)
{
    printf("%s epoch %d/%d: train loss %.4f acc %.4f | test loss %.4f acc %.4f macro-F1 %.4f | "
           "%.1f s (train %.1f s, %.0f img/s, waiting for data %.1f%%)\n",
           job->tag, e->epoch, cfg->epochs, e->train_loss, e->train_acc, e->test_loss, e->test_acc,
           e->macro_f1, e->epoch_s, e->train_s, e->images_per_s, 100 * e->wait_share);
    fflush(stdout);
}

/* One epoch's training; *stop set when a stop request cut it short. pos:
 * on entry where the epoch stands (batches done and their sums: a resumed
 * Ctrl-C checkpoint, else zero), on return where it stopped. */
static cnn_status train_epoch_run(cnn_model *m, cnn_loader *l, const train_cfg *cfg,
                                  const train_job *job, int epoch, train_bufs *w, train_epoch *e,
                                  train_state *pos, bool *stop)
{
    int64_t nfull = cfg->train->n / cfg->batch, correct = pos->correct, done = 0;
    double loss_sum = pos->loss_sum;
    char stage[48], now[96];
    snprintf(stage, sizeof stage, "%.24s epoch %d/%d", job->tag, epoch + 1, cfg->epochs);
    cnn_status st = cnn_loader_begin(l, epoch);
    cnn_batch b;
    /* the batches a Ctrl-C checkpoint has already stepped on: drawn, not used */
    while (st == CNN_OK && done < pos->batches_done && cnn_loader_next(l, &b))
        done += b.n == cfg->batch;
    double t0 = cnn_wall_seconds(), wait0 = cnn_loader_get_stats(l).epoch_wait_s;
    progress p;
    progress_start(&p, stage, (int)nfull);
    while (st == CNN_OK && done < nfull && cnn_loader_next(l, &b)) {
        float loss = 0;
        if (b.n < cfg->batch)
            continue; /* drop_last: the model's batch is fixed (train.h) */
        st = step(m, &b, cfg, w, &loss, &correct);
        loss_sum += loss;
        done++;
        double el = cnn_wall_seconds() - t0;
        snprintf(now, sizeof now, "loss %.4f, %.0f img/s", loss_sum / (double)done,
                 (double)((done - pos->batches_done) * cfg->batch) / el);
        progress_update(&p, (int)done, now);
        if (st == CNN_OK && done < nfull && run_dir_stopping()) {
            *stop = true;
            break;
        }
    }
    progress_end(&p);
    double wait = cnn_loader_get_stats(l).epoch_wait_s - wait0 + pos->wait_s;
    e->epoch = epoch + 1;
    e->images = done * cfg->batch;
    e->train_s = cnn_wall_seconds() - t0 + pos->train_s;
    e->train_loss = done ? loss_sum / (double)done : NAN;
    e->train_acc = done ? (double)correct / (double)e->images : NAN;
    e->images_per_s = e->train_s > 0 ? (double)e->images / e->train_s : 0;
    e->wait_s = wait;
    e->wait_share = e->train_s > 0 ? wait / e->train_s : 0;
    *pos = (train_state){.epochs_done = epoch,
                         .batches_done = done,
                         .loss_sum = loss_sum,
                         .correct = correct,
                         .train_s = e->train_s,
                         .wait_s = wait};
    return st;
}

/* The optimizer's and the model's steps into ts. */
static cnn_status steps(cnn_model *m, train_state *ts)
{
    float *state;
    int64_t count;
    ts->model_step = (int64_t)cnn_model_step(m);
    return cnn_model_optimizer_state(m, &state, &count, &ts->optim_step);
}

cnn_status train_run(const train_cfg *cfg, train_job *job, report_csv *csv)
{
    cnn_model *m = NULL;
    cnn_loader *tl = NULL, *el = NULL;
    train_bufs w = {0};
    train_state ts = {0};
    int64_t classes = cfg->classes;
    double t_start = cnn_wall_seconds();
    cnn_status st = setup(cfg, job, &m);
    if (st == CNN_OK && cfg->resume)
        st = resume(m, cfg, job, csv, &ts);
    cnn_loader_opts to =
        cnn_loader_defaults(cfg->batch, true, cfg->seed, cfg->image_size, cfg->image_size);
    cnn_loader_opts eo =
        cnn_loader_defaults(cfg->batch, false, cfg->seed, cfg->image_size, cfg->image_size);
    if (st == CNN_OK)
        st = cnn_loader_create(cfg->train, &to, &tl);
    if (st == CNN_OK)
        st = cnn_loader_create(cfg->test, &eo, &el);
    w.image = (int64_t)cfg->c * cfg->image_size * cfg->image_size;
    w.x = malloc((size_t)(cfg->batch * w.image) * sizeof *w.x);
    w.logits = malloc((size_t)(cfg->batch * classes) * sizeof *w.logits);
    w.pred = malloc((size_t)cfg->batch * sizeof *w.pred);
    free(job->confusion);
    job->confusion = calloc((size_t)(classes * classes), sizeof *job->confusion);
    if (st == CNN_OK && (!w.x || !w.logits || !w.pred || !job->confusion))
        st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "no memory for the training buffers");
    job->epochs_done = ts.epochs_done;
    bool evaluated = false;
    for (int epoch = ts.epochs_done; st == CNN_OK && epoch < cfg->epochs; epoch++) {
        if (run_dir_stopping()) { /* asked between epochs: the checkpoint is there */
            job->interrupted = true;
            break;
        }
        train_epoch e = {0};
        bool stop = false;
        double t0 = cnn_wall_seconds();
        train_state pos = ts;
        st = train_epoch_run(m, tl, cfg, job, epoch, &w, &e, &pos, &stop);
        ts = (train_state){.epochs_done = ts.epochs_done};
        if (st == CNN_OK && stop) { /* Ctrl-C: the batches so far, saved */
            job->interrupted = true;
            if ((st = steps(m, &pos)) == CNN_OK)
                st = train_checkpoint_save(m, cfg, job, &pos);
            if (st == CNN_OK)
                printf("%s: stopped in epoch %d after batch %lld; checkpoint saved\n", job->tag,
                       epoch + 1, (long long)pos.batches_done);
        }
        if (st != CNN_OK || stop)
            break;
        double t1 = cnn_wall_seconds(), loss_sum = 0;
        int64_t n = 0;
        st = evaluate(m, el, cfg, &w, job->confusion, &loss_sum, &n);
        if (st != CNN_OK)
            break;
        evaluated = true;
        finish_metrics(cfg, job, loss_sum, n, &e);
        e.eval_s = cnn_wall_seconds() - t1;
        st = steps(m, &ts);
        ts.epochs_done = epoch + 1;
        e.step = ts.optim_step;
        e.epoch_s = cnn_wall_seconds() - t0;
        /* the row first: a run killed between the two resumes from the
         * previous checkpoint and writes the row again (rows past the
         * checkpoint are not copied), never a checkpoint without its row */
        if (st == CNN_OK)
            st = train_csv_row(csv, job->tag, &e);
        if (st == CNN_OK)
            st = train_checkpoint_save(m, cfg, job, &ts);
        if (st != CNN_OK)
            break;
        print_epoch(job, cfg, &e);
        job->epochs_done = epoch + 1;
    }
    if (st == CNN_OK && !evaluated && !job->interrupted) /* resumed a finished run */
        st = final_eval(m, el, cfg, &w, job);
    if (st == CNN_OK && cfg->save_weights && !job->interrupted)
        st = report_mkdirs(job->save_dir);
    if (st == CNN_OK && cfg->save_weights && !job->interrupted)
        st = cnn_model_save_weights(m, job->save_dir);
    if (m)
        cnn_model_print_fallbacks(m, stderr);
    job->total_s = cnn_wall_seconds() - t_start;
    cnn_loader_destroy(tl);
    cnn_loader_destroy(el);
    free(w.x);
    free(w.logits);
    free(w.pred);
    cnn_model_destroy(m);
    return st;
}
