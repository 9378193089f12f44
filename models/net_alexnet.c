/* torchvision's AlexNet (models/alexnet.py): five convolutions, adaptive
 * average pooling to 6x6 (so smaller images work), and a classifier with
 * dropout 0.5 before each of the first two linear layers. */
#include "net.h"

void net_build_alexnet(cnn_net *net)
{
    int x = net_conv(net, "features.0", CNN_NET_INPUT, 64, 11, 4, 2, true);
    x = net_relu(net, "features.1", x);
    x = net_maxpool(net, "features.2", x, 3, 2, 0, false);
    x = net_conv(net, "features.3", x, 192, 5, 1, 2, true);
    x = net_relu(net, "features.4", x);
    x = net_maxpool(net, "features.5", x, 3, 2, 0, false);
    x = net_conv(net, "features.6", x, 384, 3, 1, 1, true);
    x = net_relu(net, "features.7", x);
    x = net_conv(net, "features.8", x, 256, 3, 1, 1, true);
    x = net_relu(net, "features.9", x);
    x = net_conv(net, "features.10", x, 256, 3, 1, 1, true);
    x = net_relu(net, "features.11", x);
    x = net_maxpool(net, "features.12", x, 3, 2, 0, false);
    x = net_adapool(net, "avgpool", x, 6, 6);
    x = net_dropout(net, "classifier.0", x, 0.5);
    x = net_linear(net, "classifier.1", x, 256 * 6 * 6, 4096, true);
    x = net_relu(net, "classifier.2", x);
    x = net_dropout(net, "classifier.3", x, 0.5);
    x = net_linear(net, "classifier.4", x, 0, 4096, true);
    x = net_relu(net, "classifier.5", x);
    net_linear(net, "classifier.6", x, 0, net->classes, true);
}
