#include "data_transform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pillow's fixed point for 8-bit images (Resample.c: PRECISION_BITS). */
#define PIL_BITS (32 - 8 - 2)

cnn_transform_opts cnn_fmnist_transform(int out_h, int out_w)
{
    cnn_transform_opts o = {out_h, out_w, CNN_RESIZE_TENSOR, CNN_FMNIST_MEAN, CNN_FMNIST_STD};
    return o;
}

static void axis_free(cnn_resize_axis *a)
{
    free(a->first);
    free(a->wf);
    free(a->wi);
    free(a->count);
    memset(a, 0, sizeof *a);
}

/* torch's upsample_bilinear2d indices and weights on the CPU
 * (align_corners=False, no scale given), as measured against torch 1.13:
 * the scale in float (in / out), then src = scale * (d + 0.5) - 0.5 in
 * double, clamped at 0; taps floor(src) and the next one (the same one at
 * the last index); weights 1 - l and l rounded to float from double. */
static void tensor_axis(cnn_resize_axis *a, int in, int out)
{
    float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        int i0 = d;
        double l1 = 0.0;
        if (in != out) {
            double src = (double)scale * (d + 0.5) - 0.5;
            if (src < 0.0)
                src = 0.0;
            i0 = (int)floor(src);
            if (i0 > in - 1)
                i0 = in - 1;
            l1 = fmin(fmax(src - i0, 0.0), 1.0);
        }
        a->first[d] = i0;
        a->wf[2 * d] = (float)(1.0 - l1);
        /* The second tap's offset: 1, or 0 at the last source index. */
        a->count[d] = i0 < in - 1 ? 1 : 0;
        a->wf[2 * d + 1] = (float)l1;
    }
}

static double bilinear_filter(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear
 * filter (support 1, widened by in/out when shrinking). */
static void pil_axis(cnn_resize_axis *a, int in, int out, double *w)
{
    double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = filterscale, ss = 1.0 / filterscale;
    for (int d = 0; d < out; d++) {
        double center = (d + 0.5) * scale, sum = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = bilinear_filter((x + xmin - center + 0.5) * ss);
            sum += w[x];
        }
        for (int x = 0; x < a->taps; x++) {
            double k = x < xmax && sum != 0.0 ? w[x] / sum : 0.0;
            a->wi[(size_t)d * (size_t)a->taps + (size_t)x] =
                (int32_t)(k < 0 ? -0.5 + k * (1 << PIL_BITS) : 0.5 + k * (1 << PIL_BITS));
        }
        a->first[d] = xmin;
        a->count[d] = xmax;
    }
}

static cnn_status axis_init(cnn_resize_axis *a, int in, int out, cnn_resize_mode mode)
{
    memset(a, 0, sizeof *a);
    if (mode == CNN_RESIZE_PIL) {
        double filterscale = in > out ? (double)in / out : 1.0;
        a->taps = (int)ceil(filterscale) * 2 + 1;
    } else {
        a->taps = 2;
    }
    size_t nw = (size_t)out * (size_t)a->taps;
    a->first = malloc((size_t)out * sizeof *a->first);
    a->count = malloc((size_t)out * sizeof *a->count);
    a->wf = malloc(nw * sizeof *a->wf);
    a->wi = malloc(nw * sizeof *a->wi);
    double *w = malloc((size_t)a->taps * sizeof *w); /* Pillow's double weights */
    if (!a->first || !a->count || !a->wf || !a->wi || !w) {
        axis_free(a);
        free(w);
        return cnn_fail(CNN_ERR_OUT_OF_MEMORY, "resize %d -> %d: out of memory", in, out);
    }
    if (mode == CNN_RESIZE_PIL)
        pil_axis(a, in, out, w);
    else
        tensor_axis(a, in, out);
    free(w);
    return CNN_OK;
}

cnn_status cnn_transform_init(cnn_transform *t, int in_h, int in_w, const cnn_transform_opts *o)
{
    memset(t, 0, sizeof *t);
    if (in_h < 1 || in_w < 1 || in_h > CNN_TRANSFORM_MAX_SIZE || in_w > CNN_TRANSFORM_MAX_SIZE)
        return cnn_fail(CNN_ERR_INVALID_ARG, "image size %dx%d: expected 1 to %d a side", in_h,
                        in_w, CNN_TRANSFORM_MAX_SIZE);
    if (o->out_h < 1 || o->out_w < 1 || o->out_h > CNN_TRANSFORM_MAX_SIZE ||
        o->out_w > CNN_TRANSFORM_MAX_SIZE)
        return cnn_fail(CNN_ERR_INVALID_ARG, "resize to %dx%d: expected 1 to %d a side", o->out_h,
                        o->out_w, CNN_TRANSFORM_MAX_SIZE);
    if (o->resize != CNN_RESIZE_TENSOR && o->resize != CNN_RESIZE_PIL)
        return cnn_fail(CNN_ERR_INVALID_ARG, "resize mode %d: expected tensor or pil",
                        (int)o->resize);
    if (!(o->std > 0.0f) || !isfinite(o->mean) || !isfinite(o->std))
        return cnn_fail(CNN_ERR_INVALID_ARG, "Normalize(mean %g, std %g): std must be > 0",
                        (double)o->mean, (double)o->std);
    t->in_h = in_h;
    t->in_w = in_w;
    t->o = *o;
    t->identity = in_h == o->out_h && in_w == o->out_w;
    for (int v = 0; v < 256; v++) {
        /* ToTensor: img.float().div(255); Normalize: sub_(mean).div_(std). */
        t->to_unit[v] = (float)v / 255.0f;
        t->lut[v] = (t->to_unit[v] - o->mean) / o->std;
    }
    if (t->identity)
        return CNN_OK;
    cnn_status st = axis_init(&t->rows, in_h, o->out_h, o->resize);
    if (st == CNN_OK)
        st = axis_init(&t->cols, in_w, o->out_w, o->resize);
    if (st == CNN_OK && o->resize == CNN_RESIZE_PIL) {
        t->tmp = malloc((size_t)in_h * (size_t)o->out_w);
        if (!t->tmp)
            st = cnn_fail(CNN_ERR_OUT_OF_MEMORY, "resize %dx%d: out of memory", in_h, in_w);
    }
    if (st != CNN_OK)
        cnn_transform_free(t);
    return st;
}

static uint8_t pil_clip8(int32_t acc)
{
    int32_t v = acc >> PIL_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void pil_image(cnn_transform *t, const uint8_t *src, bool flip, float *dst)
{
    int in_w = t->in_w, out_h = t->o.out_h, out_w = t->o.out_w;
    const cnn_resize_axis *c = &t->cols, *r = &t->rows;
    for (int y = 0; y < t->in_h; y++) {
        const uint8_t *row = src + (size_t)y * (size_t)in_w;
        for (int x = 0; x < out_w; x++) {
            const int32_t *k = c->wi + (size_t)x * (size_t)c->taps;
            int32_t acc = 1 << (PIL_BITS - 1);
            for (int j = 0; j < c->count[x]; j++) {
                int sx = c->first[x] + j;
                acc += row[flip ? in_w - 1 - sx : sx] * k[j];
            }
            t->tmp[(size_t)y * (size_t)out_w + (size_t)x] = pil_clip8(acc);
        }
    }
    for (int y = 0; y < out_h; y++) {
        const int32_t *k = r->wi + (size_t)y * (size_t)r->taps;
        for (int x = 0; x < out_w; x++) {
            int32_t acc = 1 << (PIL_BITS - 1);
            for (int j = 0; j < r->count[y]; j++)
                acc += t->tmp[(size_t)(r->first[y] + j) * (size_t)out_w + (size_t)x] * k[j];
            dst[(size_t)y * (size_t)out_w + (size_t)x] = t->lut[pil_clip8(acc)];
        }
    }
}

static void tensor_image(const cnn_transform *t, const uint8_t *src, bool flip, float *dst)
{
    int in_w = t->in_w, out_h = t->o.out_h, out_w = t->o.out_w;
    const cnn_resize_axis *c = &t->cols, *r = &t->rows;
    const float mean = t->o.mean, std = t->o.std;
    for (int y = 0; y < out_h; y++) {
        const uint8_t *r0 = src + (size_t)r->first[y] * (size_t)in_w;
        const uint8_t *r1 = r0 + (size_t)r->count[y] * (size_t)in_w;
        double wy0 = r->wf[2 * y], wy1 = r->wf[2 * y + 1];
        for (int x = 0; x < out_w; x++) {
            int x0 = c->first[x], x1 = x0 + c->count[x];
            if (flip) {
                x0 = in_w - 1 - x0;
                x1 = in_w - 1 - x1;
            }
            /* float weights and values, arithmetic in double, one rounding
             * to float: bit for bit what torch 1.13's CPU kernel gives. */
            double wx0 = c->wf[2 * x], wx1 = c->wf[2 * x + 1];
            double top = (double)t->to_unit[r0[x0]] * wx0 + (double)t->to_unit[r0[x1]] * wx1;
            double bottom = (double)t->to_unit[r1[x0]] * wx0 + (double)t->to_unit[r1[x1]] * wx1;
            float v = (float)(top * wy0 + bottom * wy1);
            dst[(size_t)y * (size_t)out_w + (size_t)x] = (v - mean) / std;
        }
    }
}

void cnn_transform_image(cnn_transform *t, const uint8_t *src, bool flip, float *dst)
{
    if (t->identity) {
        int w = t->in_w;
        for (int y = 0; y < t->in_h; y++)
            for (int x = 0; x < w; x++)
                dst[(size_t)y * (size_t)w + (size_t)x] =
                    t->lut[src[(size_t)y * (size_t)w + (size_t)(flip ? w - 1 - x : x)]];
    } else if (t->o.resize == CNN_RESIZE_PIL) {
        pil_image(t, src, flip, dst);
    } else {
        tensor_image(t, src, flip, dst);
    }
}

void cnn_transform_free(cnn_transform *t)
{
    axis_free(&t->rows);
    axis_free(&t->cols);
    free(t->tmp);
    t->tmp = NULL;
}
