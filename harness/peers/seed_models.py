"""The two models of the seed document that torchvision does not have, as
PyTorch modules: the Fashion-MNIST CNN (section 4) and LeNet-5 (section
5.1). Shared by pytorch_peer.py beside it and by tests/gen_models_keys.py and
tests/torch_models_check.py."""
import torch
import torch.nn as nn


class FashionCNN(nn.Module):
    """The seed document's Fashion-MNIST CNN (section 4)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv_layer1 = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.conv_layer2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc_layer = nn.Sequential(nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Dropout(0.5),
                                      nn.Linear(64, num_classes))

    def forward(self, x):
        x = self.conv_layer2(self.conv_layer1(x))
        return self.fc_layer(x.view(x.size(0), -1))


class LeNet(nn.Module):
    """LeNet-5 as the seed document writes it (section 5.1)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, stride=1, padding=2)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, stride=1)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = self.pool(torch.sigmoid(self.conv1(x)))
        x = self.pool(torch.sigmoid(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = torch.sigmoid(self.fc1(x))
        x = torch.sigmoid(self.fc2(x))
        return self.fc3(x)
