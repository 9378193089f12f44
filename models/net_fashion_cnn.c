/* The Fashion-MNIST network of the seed document (section 4): two conv-ReLU-
 * maxpool stages and a two-layer classifier with dropout. Its first linear
 * layer takes 32x8x8 = 2048 features, which fixes the image at 32x32. */
#include "net.h"

void net_build_fashion_cnn(cnn_net *net)
{
    int x = net_conv(net, "conv_layer1.0", CNN_NET_INPUT, 16, 3, 1, 1, true);
    x = net_relu(net, "conv_layer1.1", x);
    x = net_maxpool(net, "conv_layer1.2", x, 2, 2, 0, false);
    x = net_conv(net, "conv_layer2.0", x, 32, 3, 1, 1, true);
    x = net_relu(net, "conv_layer2.1", x);
    x = net_maxpool(net, "conv_layer2.2", x, 2, 2, 0, false);
    x = net_linear(net, "fc_layer.0", x, 32 * 8 * 8, 64, true);
    x = net_relu(net, "fc_layer.1", x);
    x = net_dropout(net, "fc_layer.2", x, 0.5);
    net_linear(net, "fc_layer.3", x, 0, net->classes, true);
}
