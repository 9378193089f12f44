/* LeNet-5 as the seed document writes it (section 5.1): sigmoid activations
 * and 2x2 average pooling; 16x5x5 = 400 features into fc1 fix the image at
 * 28x28. PyTorch applies one `pool` module twice and torch.sigmoid as a
 * function, so those nodes carry names of their own here. */
#include "net.h"

void net_build_lenet5(cnn_net *net)
{
    int x = net_conv(net, "conv1", CNN_NET_INPUT, 6, 5, 1, 2, true);
    x = net_sigmoid(net, "sigmoid1", x);
    x = net_avgpool(net, "pool1", x, 2, 2, 0, false);
    x = net_conv(net, "conv2", x, 16, 5, 1, 0, true);
    x = net_sigmoid(net, "sigmoid2", x);
    x = net_avgpool(net, "pool2", x, 2, 2, 0, false);
    x = net_linear(net, "fc1", x, 16 * 5 * 5, 120, true);
    x = net_sigmoid(net, "sigmoid3", x);
    x = net_linear(net, "fc2", x, 0, 84, true);
    x = net_sigmoid(net, "sigmoid4", x);
    net_linear(net, "fc3", x, 0, net->classes, true);
}
