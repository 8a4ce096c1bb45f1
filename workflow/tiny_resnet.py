"""``model.arch: tiny_resnet``: the demo's backbone, a ResNet small enough for 32-pixel textures.

Four stages of one basic block each (16, 32, 64 and 128 channels) after a stride-2 stem:
0.3M weights, a 1.2 MB checkpoint, against ResNet-18's 11.2M and 45 MB. It is defined here, in
plain torch, because a training job that builds a torchvision or timm model first imports that
library (about 1.5 s, torchvision pulling in torch._dynamo), and the demo's ~40 training jobs
each train for about a second. Its modules carry torchvision's ResNet names (``conv1``,
``bn1``, ``layer1``-``layer4``), so the CNN bank and feature distillation find them as they
find ResNet-18's. No library weights exist for it: start from ``pretrain``, ``scratch`` or a
checkpoint.
"""

from __future__ import annotations

from torch import nn

WIDTHS = (16, 32, 64, 128)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (1x1 convolution where the shape changes)."""

    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or channels_in != channels_out:
            self.downsample = nn.Sequential(nn.Conv2d(channels_in, channels_out, 1, stride, bias=False),
                                            nn.BatchNorm2d(channels_out))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + shortcut)


class TinyResNet(nn.Module):
    """Images (N, 3, H, W) to pooled features (N, 128)."""

    feature_dim = WIDTHS[-1]

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, WIDTHS[0], 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        channels = [WIDTHS[0], *WIDTHS]
        for number, stride in enumerate((1, 2, 2, 2)):
            self.add_module(f"layer{number + 1}", BasicBlock(channels[number], channels[number + 1], stride))
        self.pool = nn.AdaptiveAvgPool2d(1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.pool(x).flatten(1)
