/* A helper for torch_data_check.py (not a test by itself): the first COUNT
 * images of a Fashion-MNIST-style folder through cnn_transform_image, as
 * .npy files the script compares with torchvision's transforms.
 *
 *   data_dump --classes                      the class names, one a line
 *   data_dump DIR train|test COUNT OUT_H OUT_W tensor|pil FLIP OUT
 *       OUT.x.npy: float32 [COUNT, 1, OUT_H, OUT_W], each image mirrored
 *       first when FLIP is 1; OUT.y.npy: int32 [COUNT] labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_fmnist.h"
#include "data_transform.h"
#include "npy.h"

static int fail(void)
{
    fprintf(stderr, "data_dump: %s\n", cnn_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--classes") == 0) {
        for (int c = 0; c < CNN_FMNIST_CLASSES; c++)
            printf("%s\n", cnn_fmnist_class_names[c]);
        return 0;
    }
    if (argc != 9) {
        fprintf(stderr, "usage: data_dump --classes | DIR train|test COUNT OUT_H OUT_W "
                        "tensor|pil FLIP OUT\n");
        return 2;
    }
    cnn_dataset d;
    cnn_fmnist_split split = strcmp(argv[2], "test") == 0 ? CNN_FMNIST_TEST : CNN_FMNIST_TRAIN;
    if (cnn_fmnist_load(argv[1], split, &d) != CNN_OK)
        return fail();
    int count = atoi(argv[3]);
    cnn_transform_opts o = cnn_fmnist_transform(atoi(argv[4]), atoi(argv[5]));
    o.resize = strcmp(argv[6], "pil") == 0 ? CNN_RESIZE_PIL : CNN_RESIZE_TENSOR;
    bool flip = atoi(argv[7]) != 0;
    cnn_transform t;
    if (count < 1 || count > d.n || cnn_transform_init(&t, d.h, d.w, &o) != CNN_OK) {
        if (count < 1 || count > d.n)
            fprintf(stderr, "data_dump: COUNT %d, the set has %lld\n", count, (long long)d.n);
        else
            fail();
        cnn_dataset_free(&d);
        return 1;
    }
    size_t px = (size_t)o.out_h * (size_t)o.out_w;
    float *x = malloc((size_t)count * px * sizeof *x);
    int32_t *y = malloc((size_t)count * sizeof *y);
    for (int i = 0; x && y && i < count; i++) {
        cnn_transform_image(&t, d.pixels + (size_t)i * (size_t)d.h * (size_t)d.w, flip,
                            x + (size_t)i * px);
        y[i] = d.labels[i];
    }
    char path[1024];
    cnn_shape xs = {4, {count, 1, o.out_h, o.out_w}}, ys = {1, {count}};
    int rc = 0;
    snprintf(path, sizeof path, "%s.x.npy", argv[8]);
    if (!x || !y || cnn_npy_write_f32(path, &xs, x) != CNN_OK)
        rc = fail();
    snprintf(path, sizeof path, "%s.y.npy", argv[8]);
    if (rc == 0 && cnn_npy_write(path, CNN_DTYPE_I32, &ys, y) != CNN_OK)
        rc = fail();
    free(x);
    free(y);
    cnn_transform_free(&t);
    cnn_dataset_free(&d);
    return rc;
}
