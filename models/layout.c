/* The activation block: where each activation-side tensor of a bound model
 * lives, in floats from the block's start, every region 64-byte aligned.
 *
 * Every bind first lays out one slot per tensor, side by side: the input
 * image, each node's output (and, for training, its gradient and a batch
 * norm's saved statistics), the loss head's probabilities, loss and
 * labels, and for training the gradient scratch and a block of zeros. That
 * is the block of a bind with keep_activations, and act_unshared_floats.
 *
 * Without keep_activations, tensors whose lifetimes do not overlap then
 * share memory. Time runs over one step: the nodes' forwards in order, the
 * loss, its gradient, the nodes' backwards in reverse order. A node's
 * output lives from its forward to its last reader: the forwards of the
 * nodes that read it (concat and add inputs included) and, on a training
 * bind, the backwards that read it (bwd_reads_x, bwd_reads_y: a conv's
 * weight gradient reads its input, a relu's backward its output, so the
 * conv's output is free once the relu ran). A node's gradient lives from
 * its first contribution (the backward of its last consumer; summing
 * fan-in, exec_backward.c, adds into it from there on) to its own
 * backward. A batch norm's saved statistics live from its forward to its
 * backward (to its forward on a forward-only bind); the gradient scratch
 * during backward. The last node's output (the logits, which the loss
 * reads), the image (set once, read by any number of forwards), labels,
 * probabilities, loss and the zeros (read by an add's gradient, never
 * written) live for the whole bind. No layer writes in place, so an entry
 * never gets memory that one of its own operands is alive in. Offsets come
 * from a greedy pass by size: largest tensor first, each put in the
 * smallest gap left by the tensors already placed whose lifetimes overlap
 * its own (best fit), else after them. A node's output whose memory a
 * tensor born later in the forward takes is marked reused, one whose
 * memory a tensor of the backward takes spent: cnn_model_get_output
 * refuses the first, and the second after a backward. */
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
        m->mem[i].reused = m->mem[i].spent = false;
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

/* The step's clock, for lifetimes: node i's forward at i, the loss at n
 * (n nodes), its gradient at n + 1, node i's backward at 2n + 1 - i. */
static int t_bwd(const cnn_net *net, int i)
{
    return 2 * net->nnodes + 1 - i;
}

/* Does the backward of a node of this kind read its input x (conv and
 * linear for the weight gradient, batch norm, max and average pooling), or
 * its output y (pooling, activations: relu and sigmoid backward take y)?
 * Adaptive pooling, dropout (its mask is a seed), add and concat read
 * neither. kernels/backend_ops.h has the entries' arguments. */
static bool bwd_reads_x(cnn_op_kind k)
{
    return k == CNN_OP_CONV || k == CNN_OP_LINEAR || k == CNN_OP_BN || k == CNN_OP_POOL;
}

static bool bwd_reads_y(cnn_op_kind k)
{
    return k == CNN_OP_POOL || k == CNN_OP_ACT;
}

/* Each node's output: last[i], the time of its last reader (the node itself
 * when none reads it; FOREVER for the logits): later nodes' forwards and,
 * for training, the backwards that read it. Each node's gradient (training
 * only): born[i], when its first contribution is written (the backward of
 * its last consumer, the loss gradient for the logits, its own backward
 * when nothing reaches it, which zeroes it); it dies at dies[i], its own
 * backward, but for a ReLU whose backward is folded into its producer's
 * (fuse.c): the producer's backward reads the ReLU's output and gradient,
 * so both live until then. A fused ReLU's output is written at its
 * producer's forward (first[i]). */
static void lifetimes(const cnn_model *m, bool training, int *first, int *last, int *born,
                      int *dies)
{
    const cnn_net *net = &m->net;
    int nn = net->nnodes;
    for (int i = 0; i < nn; i++) {
        first[i] = model_relu_fused(m, i) ? m->fuse[i].into : i;
        last[i] = training && bwd_reads_y(net->nodes[i].op.kind) ? t_bwd(net, i) : i;
        born[i] = dies[i] = t_bwd(net, i);
    }
    for (int i = 0; i < nn; i++) {
        const cnn_node *nd = &net->nodes[i];
        for (int k = 0; k < nd->nin; k++) {
            int src = nd->in[k];
            if (src == CNN_NET_INPUT)
                continue;
            int t = training && k == 0 && bwd_reads_x(nd->op.kind) ? t_bwd(net, i) : i;
            last[src] = t > last[src] ? t : last[src];
            born[src] = t_bwd(net, i) < born[src] ? t_bwd(net, i) : born[src];
        }
    }
    last[nn - 1] = FOREVER;
    born[nn - 1] = nn + 1;
    for (int j = 0; training && j < nn; j++) {
        int i = model_relu_fused(m, j) ? m->fuse[j].into : -1;
        if (i < 0 || !m->fuse[i].bwd)
            continue;
        last[j] = t_bwd(net, i) > last[j] ? t_bwd(net, i) : last[j];
        dies[j] = t_bwd(net, i);
    }
}

/* Is any tensor born in (y->last, until] given some of y's memory? */
static bool taken_by_later(const slot *y, const slot *slots, int n, int until)
{
    for (int k = 0; k < n; k++)
        if (slots[k].first > y->last && slots[k].first <= until && overlap_in_memory(y, &slots[k]))
            return true;
    return false;
}

/* Shared offsets, and the reused and spent marks. The image, the loss
 * head's tensors and the zeros live for the whole bind; a batch norm's
 * saved statistics from its forward to its backward (its forward only on a
 * forward-only bind: nothing reads them there); the gradient scratch during
 * backward. */
static cnn_status layout_shared(cnn_model *m)
{
    const cnn_net *net = &m->net;
    bool training = !m->opts.forward_only;
    int nn = net->nnodes, cap = 3 * nn + 6, n = 0;
    slot *slots = calloc((size_t)cap, sizeof *slots);
    slot **order = calloc((size_t)cap, sizeof *order), **live = calloc((size_t)cap, sizeof *live);
    int *last = calloc((size_t)nn, sizeof *last), *born = calloc((size_t)nn, sizeof *born);
    int *first = calloc((size_t)nn, sizeof *first), *dies = calloc((size_t)nn, sizeof *dies);
    int64_t *save = calloc((size_t)nn, sizeof *save);
    int64_t size = -1;
    if (!slots || !order || !live || !last || !born || !first || !dies || !save)
        goto done;
    lifetimes(m, training, first, last, born, dies);
    int batch = (int)net->input.dim[0];
    slots[n++] = (slot){net_align(net_numel(net, CNN_NET_INPUT)), -1, FOREVER, &m->x_off, -1};
    slots[n++] = (slot){net_align((int64_t)batch * net->classes), -1, FOREVER, &m->prob_off, -1};
    slots[n++] = (slot){net_align(1), -1, FOREVER, &m->loss_off, -1};
    slots[n++] = (slot){net_align(batch), -1, FOREVER, &m->labels_off, -1};
    int64_t scratch = 1, zeros = 1;
    for (int i = 0; i < nn; i++) {
        const cnn_node *nd = &net->nodes[i];
        int64_t numel = net_numel(net, i);
        slots[n++] = (slot){net_align(numel), first[i], last[i], &m->mem[i].y, i};
        if (training)
            slots[n++] = (slot){net_align(numel), born[i], dies[i], &m->mem[i].dy, -1};
        if (nd->op.kind == CNN_OP_BN)
            slots[n++] =
                (slot){2 * net_align(nd->op.bn.c), i, training ? t_bwd(net, i) : i, &save[i], -1};
        /* the scratch as layout_unshared sizes it; zeros are read by the
         * gradient of an add only (exec_backward.c, add_backward) */
        int64_t in_total = 0;
        for (int k = 0; k < nd->nin; k++)
            in_total += net_align(net_numel(net, nd->in[k]));
        scratch = in_total > scratch ? in_total : scratch;
        if (nd->op.kind == CNN_OP_ADD && nd->op.add.count > zeros)
            zeros = nd->op.add.count;
    }
    if (training) {
        slots[n++] = (slot){net_align(scratch), nn + 1, t_bwd(net, 0), &m->scratch_off, -1};
        slots[n++] = (slot){net_align(zeros), -1, FOREVER, &m->zeros_off, -1};
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
    /* A node's output is gone after a forward when a tensor born after its
     * last reader, up to the loss, took some of its memory (reused), and
     * after a backward when any later tensor did (spent). */
    for (int j = 0; j < n; j++) {
        const slot *y = &slots[j];
        if (y->node < 0)
            continue;
        m->mem[y->node].reused = taken_by_later(y, slots, n, nn);
        m->mem[y->node].spent = taken_by_later(y, slots, n, FOREVER);
    }
done:
    free(slots);
    free(order);
    free(live);
    free(last);
    free(born);
    free(first);
    free(dies);
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
    if (m->opts.keep_activations)
        return CNN_OK;
    return layout_shared(m);
}
