/* torchvision's GoogLeNet (models/googlenet.py) with aux_logits=False and
 * transform_input=False. BasicConv2d is conv (no bias) + BN (eps 0.001) +
 * ReLU. An Inception block runs four branches on the same input and
 * concatenates them along channels: 1x1; 1x1 then 3x3; 1x1 then 3x3 (the
 * "5x5" branch, a 3x3 in torchvision as in its pretrained weights); 3x3 max
 * pool (stride 1, ceil mode) then 1x1. Every max pool uses ceil mode. */
#include "net.h"

static int basic_conv(cnn_net *net, const char *prefix, int in, int out, int k, int stride, int pad)
{
    char n[CNN_NAME_BUF];
    int x = net_conv(net, net_join(n, prefix, "conv"), in, out, k, stride, pad, false);
    x = net_bn(net, net_join(n, prefix, "bn"), x, 0.001);
    return net_relu(net, net_join(n, prefix, "relu"), x);
}

static int inception(cnn_net *net, const char *prefix, int in, int ch1x1, int ch3x3red, int ch3x3,
                     int ch5x5red, int ch5x5, int pool_proj)
{
    char n[CNN_NAME_BUF];
#define NAME(suffix) net_join(n, prefix, suffix)
    int b[4];
    b[0] = basic_conv(net, NAME("branch1"), in, ch1x1, 1, 1, 0);
    b[1] = basic_conv(net, NAME("branch2.0"), in, ch3x3red, 1, 1, 0);
    b[1] = basic_conv(net, NAME("branch2.1"), b[1], ch3x3, 3, 1, 1);
    b[2] = basic_conv(net, NAME("branch3.0"), in, ch5x5red, 1, 1, 0);
    b[2] = basic_conv(net, NAME("branch3.1"), b[2], ch5x5, 3, 1, 1);
    b[3] = net_maxpool(net, NAME("branch4.0"), in, 3, 1, 1, true);
    b[3] = basic_conv(net, NAME("branch4.1"), b[3], pool_proj, 1, 1, 0);
    return net_concat(net, NAME("cat"), b, 4);
#undef NAME
}

void net_build_googlenet(cnn_net *net)
{
    int x = basic_conv(net, "conv1", CNN_NET_INPUT, 64, 7, 2, 3);
    x = net_maxpool(net, "maxpool1", x, 3, 2, 0, true);
    x = basic_conv(net, "conv2", x, 64, 1, 1, 0);
    x = basic_conv(net, "conv3", x, 192, 3, 1, 1);
    x = net_maxpool(net, "maxpool2", x, 3, 2, 0, true);
    x = inception(net, "inception3a", x, 64, 96, 128, 16, 32, 32);
    x = inception(net, "inception3b", x, 128, 128, 192, 32, 96, 64);
    x = net_maxpool(net, "maxpool3", x, 3, 2, 0, true);
    x = inception(net, "inception4a", x, 192, 96, 208, 16, 48, 64);
    x = inception(net, "inception4b", x, 160, 112, 224, 24, 64, 64);
    x = inception(net, "inception4c", x, 128, 128, 256, 24, 64, 64);
    x = inception(net, "inception4d", x, 112, 144, 288, 32, 64, 64);
    x = inception(net, "inception4e", x, 256, 160, 320, 32, 128, 128);
    x = net_maxpool(net, "maxpool4", x, 2, 2, 0, true);
    x = inception(net, "inception5a", x, 256, 160, 320, 32, 128, 128);
    x = inception(net, "inception5b", x, 384, 192, 384, 48, 128, 128);
    x = net_adapool(net, "avgpool", x, 1, 1);
    x = net_dropout(net, "dropout", x, 0.2);
    net_linear(net, "fc", x, 0, net->classes, true);
}
