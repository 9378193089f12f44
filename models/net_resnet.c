/* torchvision's ResNet-18 (models/resnet.py): a 7x7 stem conv, BN, ReLU and
 * max pool, then four stages of two BasicBlocks; the first block of stages
 * 2-4 halves the image and projects the identity with a 1x1 conv + BN
 * ("downsample"). BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, add the identity,
 * ReLU. torchvision applies one ReLU module twice per block; the two uses are
 * the nodes relu1 and relu2 here. */
#include <stdio.h>

#include "net.h"

static int basic_block(cnn_net *net, const char *prefix, int in, int planes, int stride)
{
    char n[CNN_NAME_BUF];
#define NAME(suffix) net_join(n, prefix, suffix)
    int x = net_conv(net, NAME("conv1"), in, planes, 3, stride, 1, false);
    x = net_bn(net, NAME("bn1"), x, 1e-5);
    x = net_relu(net, NAME("relu1"), x);
    x = net_conv(net, NAME("conv2"), x, planes, 3, 1, 1, false);
    x = net_bn(net, NAME("bn2"), x, 1e-5);
    int identity = in;
    if (in >= CNN_NET_INPUT && (stride != 1 || net_channels(net, in) != planes)) {
        identity = net_conv(net, NAME("downsample.0"), in, planes, 1, stride, 0, false);
        identity = net_bn(net, NAME("downsample.1"), identity, 1e-5);
    }
    x = net_add(net, NAME("add"), x, identity);
    return net_relu(net, NAME("relu2"), x);
#undef NAME
}

void net_build_resnet18(cnn_net *net)
{
    int x = net_conv(net, "conv1", CNN_NET_INPUT, 64, 7, 2, 3, false);
    x = net_bn(net, "bn1", x, 1e-5);
    x = net_relu(net, "relu", x);
    x = net_maxpool(net, "maxpool", x, 3, 2, 1, false);
    static const int planes[4] = {64, 128, 256, 512};
    char prefix[CNN_NAME_MAX];
    for (int stage = 0; stage < 4; stage++)
        for (int block = 0; block < 2; block++) {
            snprintf(prefix, sizeof prefix, "layer%d.%d", stage + 1, block);
            int stride = stage > 0 && block == 0 ? 2 : 1;
            x = basic_block(net, prefix, x, planes[stage], stride);
        }
    x = net_adapool(net, "avgpool", x, 1, 1);
    net_linear(net, "fc", x, 0, net->classes, true);
}
