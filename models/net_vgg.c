/* torchvision's VGG-16 (models/vgg.py, configuration "D", no batch norm):
 * 3x3 convolutions with ReLU, 2x2 max pooling after each stage, adaptive
 * average pooling to 7x7 and a three-layer classifier with dropout 0.5. */
#include <stdio.h>

#include "net.h"

void net_build_vgg16(cnn_net *net)
{
    static const int cfg[] = {64, 64,  -1,  128, 128, -1,  256, 256, 256,
                              -1, 512, 512, 512, -1,  512, 512, 512, -1};
    char name[CNN_NAME_MAX];
    int x = CNN_NET_INPUT, idx = 0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        snprintf(name, sizeof name, "features.%d", idx++);
        if (cfg[i] < 0) {
            x = net_maxpool(net, name, x, 2, 2, 0, false);
            continue;
        }
        x = net_conv(net, name, x, cfg[i], 3, 1, 1, true);
        snprintf(name, sizeof name, "features.%d", idx++);
        x = net_relu(net, name, x);
    }
    x = net_adapool(net, "avgpool", x, 7, 7);
    x = net_linear(net, "classifier.0", x, 512 * 7 * 7, 4096, true);
    x = net_relu(net, "classifier.1", x);
    x = net_dropout(net, "classifier.2", x, 0.5);
    x = net_linear(net, "classifier.3", x, 0, 4096, true);
    x = net_relu(net, "classifier.4", x);
    x = net_dropout(net, "classifier.5", x, 0.5);
    net_linear(net, "classifier.6", x, 0, net->classes, true);
}
