/* The activation block: where each activation-side tensor of a bound model
 * lives, in floats from the block's start, every region 64-byte aligned.
 *
 * Every bind first lays out one slot per tensor, side by side: the input
 * image, each node's output (and, for training, its gradient and a batch
 * norm's saved statistics), the loss head's probabilities, loss and
 * labels, and for training the gradient scratch and a block of zeros.
 * Backward reads any forward output, so that is what training binds keep.
 *
 * A forward-only bind without keep_activations then shares memory between
 * tensors whose lifetimes do not overlap. A node's output lives from its
 * node to the last node that reads it (concat and add inputs included); the
 * last node's output (the logits, which the loss reads), the image (set
 * once, read by any number of forwards), labels, probabilities and loss
 * live for the whole bind; a batch norm's saved statistics, written by a
 * training-mode forward and never read without backward, live during their
 * node only. No layer writes in place, so an output never shares memory
 * with its own inputs. Offsets come from a greedy pass by size: largest
 * tensor first, each put in the smallest gap left by the tensors already
 * placed whose lifetimes overlap its own (best fit), else after them. A
 * node's output whose memory a later tensor takes is marked reused:
 * cnn_model_get_output refuses it. */
#include <stdlib.h>

#include "model_internal.h"

#define FOREVER (1 << 30)

/* One tensor to place: n floats (aligned), alive from node `first` to node
 * `last` inclusive (-1: before the first node), written to *off; `node` is
 * the node whose output it is, -1 for the others. */
typedef struct slot {
    int64_t n;
    int first, last;
    int64_t *off;
    int node;
} slot;

/* The next region of n floats at *off, aligned; returns its offset. */
static int64_t take(int64_t *off, int64_t n)
{
    int64_t at = *off;
    *off += net_align(n);
    return at;
}

/* One slot per tensor; returns the block's size. */
static int64_t layout_unshared(cnn_model *m)
{
    bool grads = !m->opts.forward_only;
    int64_t off = 0, scratch = 1, zeros = 1;
    m->x_off = take(&off, net_numel(&m->net, CNN_NET_INPUT));
    for (int i = 0; i < m->net.nnodes; i++) {
        const cnn_node *nd = &m->net.nodes[i];
        int64_t n = net_numel(&m->net, i);
        m->mem[i].y = take(&off, n);
        m->mem[i].dy = grads ? take(&off, n) : -1;
        m->mem[i].reused = false;
        if (nd->op.kind == CNN_OP_BN) {
            m->mem[i].save_mean = take(&off, nd->op.bn.c);
            m->mem[i].save_invstd = take(&off, nd->op.bn.c);
        }
        /* Concat pieces sit side by side in the scratch; a single input
         * needs its own size. */
        int64_t in_total = 0;
        for (int k = 0; k < nd->nin; k++)
            in_total += net_align(net_numel(&m->net, nd->in[k]));
        scratch = in_total > scratch ? in_total : scratch;
        zeros = n > zeros ? n : zeros;
    }
    int n = (int)m->net.input.dim[0];
    m->prob_off = take(&off, (int64_t)n * m->net.classes);
    m->loss_off = take(&off, 1);
    m->labels_off = take(&off, n); /* int32 values in float-sized slots */
    m->scratch_off = grads ? take(&off, scratch) : -1;
    m->zeros_off = grads ? take(&off, zeros) : -1;
    return off;
}

static bool overlap_in_time(const slot *a, const slot *b)
{
    return a->first <= b->last && b->first <= a->last;
}

static bool overlap_in_memory(const slot *a, const slot *b)
{
    return *a->off < *b->off + b->n && *b->off < *a->off + a->n;
}

/* Largest first; ties by birth, then by the order the slots were listed. */
static int by_size(const void *pa, const void *pb)
{
    const slot *a = *(const slot *const *)pa, *b = *(const slot *const *)pb;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int by_offset(const void *pa, const void *pb)
{
    const slot *a = *(const slot *const *)pa, *b = *(const slot *const *)pb;
    return (*a->off > *b->off) - (*a->off < *b->off);
}

/* Place slots order[0..n) in that order; returns the block's size. live is
 * room for n pointers. */
static int64_t place(slot **order, int n, slot **live)
{
    int64_t size = 0;
    for (int i = 0; i < n; i++) {
        slot *s = order[i];
        int nlive = 0;
        for (int j = 0; j < i; j++)
            if (overlap_in_time(s, order[j]))
                live[nlive++] = order[j];
        qsort(live, (size_t)nlive, sizeof *live, by_offset);
        int64_t end = 0, best = -1, best_gap = 0;
        for (int j = 0; j < nlive; j++) {
            int64_t gap = *live[j]->off - end;
            if (gap >= s->n && (best < 0 || gap < best_gap)) {
                best = end;
                best_gap = gap;
            }
            int64_t e = *live[j]->off + live[j]->n;
            end = e > end ? e : end;
        }
        *s->off = best >= 0 ? best : end;
        size = *s->off + s->n > size ? *s->off + s->n : size;
    }
    return size;
}

/* The last node that reads each node's output (the node itself when none
 * does; FOREVER for the logits). */
static void last_readers(const cnn_net *net, int *last)
{
    for (int i = 0; i < net->nnodes; i++)
        last[i] = i;
    for (int i = 0; i < net->nnodes; i++)
        for (int k = 0; k < net->nodes[i].nin; k++)
            if (net->nodes[i].in[k] != CNN_NET_INPUT)
                last[net->nodes[i].in[k]] = i;
    last[net->nnodes - 1] = FOREVER;
}

/* Shared offsets for a forward-only bind, and the reused marks. */
static cnn_status layout_shared(cnn_model *m)
{
    const cnn_net *net = &m->net;
    int nn = net->nnodes, cap = 2 * nn + 4, n = 0;
    slot *slots = calloc((size_t)cap, sizeof *slots);
    slot **order = calloc((size_t)cap, sizeof *order), **live = calloc((size_t)cap, sizeof *live);
    int *last = calloc((size_t)nn, sizeof *last);
    int64_t *save = calloc((size_t)nn, sizeof *save);
    int64_t size = -1;
    if (!slots || !order || !live || !last || !save)
        goto done;
    last_readers(net, last);
    int batch = (int)net->input.dim[0];
    slots[n++] = (slot){net_align(net_numel(net, CNN_NET_INPUT)), -1, FOREVER, &m->x_off, -1};
    slots[n++] = (slot){net_align((int64_t)batch * net->classes), -1, FOREVER, &m->prob_off, -1};
    slots[n++] = (slot){net_align(1), -1, FOREVER, &m->loss_off, -1};
    slots[n++] = (slot){net_align(batch), -1, FOREVER, &m->labels_off, -1};
    for (int i = 0; i < nn; i++) {
        /* a ReLU fused into its producer is written at the producer's node */
        int born = model_relu_fused(m, i) ? m->fuse[i].into : i;
        slots[n++] = (slot){net_align(net_numel(net, i)), born, last[i], &m->mem[i].y, i};
        if (net->nodes[i].op.kind == CNN_OP_BN)
            slots[n++] = (slot){2 * net_align(net->nodes[i].op.bn.c), i, i, &save[i], -1};
    }
    for (int i = 0; i < n; i++)
        order[i] = &slots[i];
    qsort(order, (size_t)n, sizeof *order, by_size);
    size = place(order, n, live);
    for (int i = 0; i < nn; i++) {
        if (net->nodes[i].op.kind == CNN_OP_BN) {
            m->mem[i].save_mean = save[i];
            m->mem[i].save_invstd = save[i] + net_align(net->nodes[i].op.bn.c);
        }
    }
    /* a node's output is gone after a forward when a tensor born after its
     * last reader took some of its memory */
    for (int j = 0; j < n; j++) {
        const slot *y = &slots[j];
        for (int k = 0; k < n && y->node >= 0 && !m->mem[y->node].reused; k++)
            m->mem[y->node].reused = slots[k].first > y->last && overlap_in_memory(y, &slots[k]);
    }
done:
    free(slots);
    free(order);
    free(live);
    free(last);
    free(save);
    if (size < 0)
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "model %s: no memory to plan activations",
                        m->desc->name);
    m->act_floats = size;
    return CNN_OK;
}

cnn_status model_layout(cnn_model *m)
{
    m->act_unshared_floats = m->act_floats = layout_unshared(m);
    if (!m->opts.forward_only || m->opts.keep_activations)
        return CNN_OK;
    return layout_shared(m);
}
