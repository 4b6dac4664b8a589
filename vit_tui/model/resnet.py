"""torchvision's ResNet-18 adapted to small images, the convolutional baseline (``model.arch=resnet18``).

As is usual for CIFAR-sized inputs: a 3x3 stride-1 stem convolution and no max-pool, so a
64 px image reaches the last stage at 8x8 rather than 2x2. Stage widths are
``width * (1, 2, 4, 8)`` (torchvision's is ``width=64``). The blocks, the stage builder, the
forward pass and the initialisation are torchvision's own; only the stem and the widths differ,
and the module and parameter names are torchvision's, so at width 64 a torchvision ``resnet18``
with its stem swapped the same way holds exactly these weights.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from .size_estimate import RESNET18_LAYERS, resnet_stage_widths


class SmallImageResNet(ResNet):
    """ResNet-18 with a 3x3 stride-1 stem, no max-pool and stages ``width * (1, 2, 4, 8)`` wide."""

    def __init__(self, width: int, num_classes: int) -> None:
        # torchvision's __init__ fixes the stem and the widths, so it is not called; what it
        # sets up for ``_make_layer`` and ``_forward_impl`` is set here instead.
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        widths = resnet_stage_widths(width)
        self.layer1 = self._make_layer(BasicBlock, widths[0], RESNET18_LAYERS[0])
        self.layer2 = self._make_layer(BasicBlock, widths[1], RESNET18_LAYERS[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, widths[2], RESNET18_LAYERS[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, widths[3], RESNET18_LAYERS[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * BasicBlock.expansion, num_classes)
        # torchvision's initialisation (zero_init_residual=False); the Linear keeps PyTorch's.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)


def build_resnet(width: int, num_classes: int) -> nn.Module:
    """The small-image ResNet-18 at ``width`` with ``num_classes`` outputs."""
    return SmallImageResNet(width, num_classes)
