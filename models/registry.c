/* The catalogue of models: name, usual input, default classes, builder. */
#include <stdio.h>
#include <string.h>

#include "model_internal.h"

typedef struct entry {
    cnn_model_desc desc;
    net_builder build;
} entry;

static const entry table[] = {
    {{"fashion_cnn", "the seed's Fashion-MNIST CNN: 2 conv + 2 linear, dropout 0.5", 1, 32, 32, 10},
     net_build_fashion_cnn},
    {{"lenet5", "LeNet-5 with sigmoids and average pooling (seed 5.1)", 1, 28, 28, 10},
     net_build_lenet5},
    {{"alexnet", "torchvision AlexNet", 3, 224, 224, 1000}, net_build_alexnet},
    {{"vgg16", "torchvision VGG-16 (no batch norm)", 3, 224, 224, 1000}, net_build_vgg16},
    {{"googlenet", "torchvision GoogLeNet, no aux heads, no input transform", 3, 224, 224, 1000},
     net_build_googlenet},
    {{"resnet18", "torchvision ResNet-18", 3, 224, 224, 1000}, net_build_resnet18},
};

int cnn_model_count(void)
{
    return (int)(sizeof table / sizeof table[0]);
}

const cnn_model_desc *cnn_model_at(int i)
{
    return i >= 0 && i < cnn_model_count() ? &table[i].desc : NULL;
}

const cnn_model_desc *cnn_model_find(const char *name)
{
    for (int i = 0; i < cnn_model_count(); i++)
        if (strcmp(table[i].desc.name, name) == 0)
            return &table[i].desc;
    return NULL;
}

char *cnn_model_names(char *buf, size_t n)
{
    size_t used = 0;
    if (n)
        buf[0] = '\0';
    for (int i = 0; i < cnn_model_count() && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", table[i].desc.name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

net_builder model_builder(const cnn_model_desc *d)
{
    for (int i = 0; i < cnn_model_count(); i++)
        if (&table[i].desc == d)
            return table[i].build;
    return NULL;
}
