/* One image's preprocessing, torchvision's transforms in C: an optional
 * horizontal flip, Resize((out_h, out_w)) bilinear, ToTensor (x / 255),
 * Normalize((mean,), (std,)). The output is one float32 channel, row-major.
 *
 * Two resize modes, the same bilinear filter (half-pixel centres,
 * align_corners=False) computed two ways:
 *   CNN_RESIZE_TENSOR: Resize on the float tensor after ToTensor, antialias
 *     off (torch.nn.functional.interpolate(mode="bilinear",
 *     align_corners=False) as torchvision 0.14 calls it), computed as torch
 *     1.13's CPU kernel does: scale = in / out in float, src = scale *
 *     (d + 0.5) - 0.5 in double (clamped at 0), weights rounded to float,
 *     the 2x2 sum in double rounded once. Bit for bit torch's when
 *     enlarging (28 -> 32); within 1e-6 when shrinking.
 *   CNN_RESIZE_PIL: Resize on the 8-bit PIL image before ToTensor, as the
 *     seed's Compose does (PIL is what datasets.FashionMNIST hands the
 *     transforms): Pillow's resampling (horizontal pass, then vertical, each
 *     in 22-bit fixed point and rounded to uint8), so the values are k/255
 *     before Normalize. For a downscale this filter is Pillow's
 *     antialiased one (support scaled by in/out).
 * The two differ by up to one grey level (1/255) before Normalize (two
 * roundings; 0.17 on average over 2000 Fashion-MNIST images at 32x32).
 * Output size = input size skips the resize in both (torchvision's too).
 * The flip mirrors the source before the resize (RandomHorizontalFlip comes
 * first in the seed's Compose). */
#ifndef CNN_DATA_TRANSFORM_H
#define CNN_DATA_TRANSFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"

/* The seed's Normalize((0.286,), (0.353,)). */
#define CNN_FMNIST_MEAN 0.286f
#define CNN_FMNIST_STD 0.353f
/* Resize((32, 32)); lenet5 keeps the 28x28 input. */
#define CNN_FMNIST_SIZE 32
#define CNN_TRANSFORM_MAX_SIZE 4096

typedef enum cnn_resize_mode {
    CNN_RESIZE_TENSOR = 0,
    CNN_RESIZE_PIL,
} cnn_resize_mode;

typedef struct cnn_transform_opts {
    int out_h, out_w; /* 1 to CNN_TRANSFORM_MAX_SIZE */
    cnn_resize_mode resize;
    float mean, std; /* std > 0 */
} cnn_transform_opts;

/* The seed's pipeline at out_h x out_w: tensor resize, mean 0.286, std 0.353. */
cnn_transform_opts cnn_fmnist_transform(int out_h, int out_w);

/* Per output row and column: the source taps and their weights. */
typedef struct cnn_resize_axis {
    int taps;    /* weights per output index (2 for the tensor mode) */
    int *first;  /* [out]: first source index */
    float *wf;   /* [out * taps]: tensor mode weights */
    int32_t *wi; /* [out * taps]: PIL mode 22-bit fixed-point weights */
    int *count;  /* [out]: PIL mode: taps used; tensor mode: the second
                    tap's offset from the first (1, or 0 at the last index) */
} cnn_resize_axis;

typedef struct cnn_transform {
    int in_h, in_w;
    cnn_transform_opts o;
    bool identity; /* out == in: no resize */
    cnn_resize_axis rows, cols;
    float lut[256];     /* (v / 255 - mean) / std, the identity path's values */
    float to_unit[256]; /* v / 255 */
    uint8_t *tmp;       /* PIL mode: the horizontal pass's in_h x out_w image */
} cnn_transform;

/* Plan the transform for in_h x in_w images. Errors name the bad option. */
cnn_status cnn_transform_init(cnn_transform *t, int in_h, int in_w, const cnn_transform_opts *o);

/* src: in_h*in_w bytes; dst: out_h*out_w floats. Not thread-safe per
 * cnn_transform in PIL mode (it uses t->tmp); use one per thread. */
void cnn_transform_image(cnn_transform *t, const uint8_t *src, bool flip, float *dst);

void cnn_transform_free(cnn_transform *t);

#endif
