#include "data_loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "data_random.h"

#define MAX_BATCH (1 << 20)

cnn_loader_opts cnn_loader_defaults(int batch, bool train, uint64_t seed, int out_h, int out_w)
{
    cnn_loader_opts o = {batch, train, seed, cnn_fmnist_transform(out_h, out_w)};
    return o;
}

int cnn_loader_fill(const cnn_dataset *data, const cnn_loader_opts *o, cnn_transform *t,
                    const int64_t *order, int64_t epoch, int64_t number, float *x, int32_t *y,
                    int64_t *index, uint8_t *flipped)
{
    int64_t start = number * o->batch;
    if (number < 0 || start >= data->n)
        return 0;
    int n = data->n - start < o->batch ? (int)(data->n - start) : o->batch;
    size_t in_px = (size_t)data->h * (size_t)data->w;
    size_t out_px = (size_t)o->transform.out_h * (size_t)o->transform.out_w;
    for (int i = 0; i < n; i++) {
        int64_t idx = order ? order[start + i] : start + i;
        bool flip = o->train && cnn_data_flip(o->seed, (uint64_t)epoch, idx);
        cnn_transform_image(t, data->pixels + (size_t)idx * in_px, flip, x + (size_t)i * out_px);
        y[i] = data->labels[idx];
        index[i] = idx;
        flipped[i] = flip;
    }
    return n;
}

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD };

typedef struct slot {
    float *x;
    int32_t *y;
    int64_t *index;
    uint8_t *flipped;
    int n;
    int64_t number;
    enum slot_state state;
} slot;

struct cnn_loader {
    const cnn_dataset *data;
    cnn_loader_opts o;
    cnn_transform t;  /* the worker's */
    int64_t *order;   /* the epoch's permutation (training), else NULL */
    int64_t nbatches; /* per epoch */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* to the worker: a slot is free, an epoch began, quit */
    pthread_cond_t ready; /* to the caller: a slot is filled */
    /* Everything below is guarded by mu. Batch k of an epoch goes in slot
     * k % 2; the worker fills one while the caller holds the other. */
    slot slots[2];
    bool active, quit;
    int64_t epoch, next_fill, next_take;
    int held; /* the slot the caller holds, -1 if none */
    double epoch_start, epoch_wait, total_wait, epoch_prep;
    int64_t handed;
};

static void *worker(void *arg)
{
    cnn_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && !(l->active && l->next_fill < l->nbatches &&
                             l->slots[l->next_fill % 2].state == SLOT_FREE))
            pthread_cond_wait(&l->work, &l->mu);
        if (l->quit)
            break;
        int64_t number = l->next_fill++, epoch = l->epoch;
        slot *s = &l->slots[number % 2];
        s->state = SLOT_FILLING;
        pthread_mutex_unlock(&l->mu);
        double t0 = cnn_wall_seconds();
        int n = cnn_loader_fill(l->data, &l->o, &l->t, l->order, epoch, number, s->x, s->y,
                                s->index, s->flipped);
        double dt = cnn_wall_seconds() - t0;
        pthread_mutex_lock(&l->mu);
        s->n = n;
        s->number = number;
        s->state = SLOT_READY;
        l->epoch_prep += dt;
        pthread_cond_broadcast(&l->ready);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void free_parts(cnn_loader *l)
{
    for (int i = 0; i < 2; i++) {
        free(l->slots[i].x);
        free(l->slots[i].y);
        free(l->slots[i].index);
        free(l->slots[i].flipped);
    }
    free(l->order);
    cnn_transform_free(&l->t);
    free(l);
}

cnn_status cnn_loader_create(const cnn_dataset *data, const cnn_loader_opts *o, cnn_loader **out)
{
    *out = NULL;
    if (!data || data->n < 1 || !data->pixels || !data->labels)
        return cnn_fail(CNN_ERR_INVALID_ARG, "data loader: the dataset is empty");
    if (o->batch < 1 || o->batch > MAX_BATCH)
        return cnn_fail(CNN_ERR_INVALID_ARG, "data loader: batch size %d, expected 1 to %d",
                        o->batch, MAX_BATCH);
    cnn_loader *l = calloc(1, sizeof *l);
    if (!l)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "data loader: out of memory");
    l->data = data;
    l->o = *o;
    l->held = -1;
    l->nbatches = (data->n + o->batch - 1) / o->batch;
    cnn_status st = cnn_transform_init(&l->t, data->h, data->w, &o->transform);
    if (st != CNN_OK) {
        free(l);
        return st;
    }
    size_t b = (size_t)o->batch, px = (size_t)o->transform.out_h * (size_t)o->transform.out_w;
    bool ok = true;
    for (int i = 0; i < 2; i++) {
        slot *s = &l->slots[i];
        s->x = malloc(b * px * sizeof *s->x);
        s->y = malloc(b * sizeof *s->y);
        s->index = malloc(b * sizeof *s->index);
        s->flipped = malloc(b);
        ok = ok && s->x && s->y && s->index && s->flipped;
    }
    if (o->train) {
        l->order = malloc((size_t)data->n * sizeof *l->order);
        ok = ok && l->order;
    }
    if (!ok) {
        free_parts(l);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "data loader: cannot allocate two batches of %d",
                        o->batch);
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->ready, NULL);
    if (pthread_create(&l->thread, NULL, worker, l) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->work);
        pthread_cond_destroy(&l->ready);
        free_parts(l);
        return cnn_fail(CNN_ERR_BACKEND, "data loader: cannot start its thread");
    }
    *out = l;
    return CNN_OK;
}

cnn_status cnn_loader_begin(cnn_loader *l, int64_t epoch)
{
    if (epoch < 0)
        return cnn_fail(CNN_ERR_INVALID_ARG, "data loader: epoch %lld, expected >= 0",
                        (long long)epoch);
    pthread_mutex_lock(&l->mu);
    /* Stop handing out work and let a batch in progress finish, so that the
     * worker reads neither the order nor the slots while they are reset. */
    l->active = false;
    while (l->slots[0].state == SLOT_FILLING || l->slots[1].state == SLOT_FILLING)
        pthread_cond_wait(&l->ready, &l->mu);
    for (int i = 0; i < 2; i++)
        l->slots[i].state = SLOT_FREE;
    l->held = -1;
    l->epoch = epoch;
    l->next_fill = l->next_take = 0;
    l->epoch_wait = l->epoch_prep = 0.0;
    l->epoch_start = cnn_wall_seconds();
    l->handed = 0;
    pthread_mutex_unlock(&l->mu);
    if (l->order)
        cnn_data_shuffle(l->order, l->data->n, l->o.seed, CNN_STREAM_SHUFFLE, (uint64_t)epoch);
    pthread_mutex_lock(&l->mu);
    l->active = true;
    pthread_cond_signal(&l->work);
    pthread_mutex_unlock(&l->mu);
    return CNN_OK;
}

bool cnn_loader_next(cnn_loader *l, cnn_batch *b)
{
    pthread_mutex_lock(&l->mu);
    if (l->held >= 0) {
        l->slots[l->held].state = SLOT_FREE;
        l->held = -1;
        pthread_cond_signal(&l->work);
    }
    if (!l->active || l->next_take >= l->nbatches) {
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    int k = (int)(l->next_take % 2);
    slot *s = &l->slots[k];
    double t0 = cnn_wall_seconds();
    while (!(s->state == SLOT_READY && s->number == l->next_take))
        pthread_cond_wait(&l->ready, &l->mu);
    double waited = cnn_wall_seconds() - t0;
    l->epoch_wait += waited;
    l->total_wait += waited;
    s->state = SLOT_HELD;
    l->held = k;
    l->next_take++;
    l->handed++;
    b->n = s->n;
    b->c = 1;
    b->h = l->o.transform.out_h;
    b->w = l->o.transform.out_w;
    b->x = s->x;
    b->y = s->y;
    b->index = s->index;
    b->flipped = s->flipped;
    b->number = s->number;
    b->epoch = l->epoch;
    pthread_mutex_unlock(&l->mu);
    return true;
}

int64_t cnn_loader_batches_per_epoch(const cnn_loader *l)
{
    return l->nbatches;
}

cnn_loader_stats cnn_loader_get_stats(const cnn_loader *l)
{
    cnn_loader *m = (cnn_loader *)l; /* the mutex, not the state, changes */
    pthread_mutex_lock(&m->mu);
    cnn_loader_stats s = {l->epoch_wait, l->total_wait, l->epoch_prep,
                          l->epoch_start > 0 ? cnn_wall_seconds() - l->epoch_start : 0.0,
                          l->handed};
    pthread_mutex_unlock(&m->mu);
    return s;
}

void cnn_loader_destroy(cnn_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->quit = true;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->ready);
    free_parts(l);
}
