"""The one model factory: ``build_model`` picks the network ``model.arch`` names.

Training, evaluation, predictions, export, the summary and the doctor all build through here,
so a CNN run trains, evaluates and exports through the same engine and run folder as a ViT run.
"""

from __future__ import annotations

from torch import nn

from ..config import ModelConfig
from .size_estimate import is_cnn
from .vit import build_model as build_vit
from .vit import count_parameters

__all__ = ["build_model", "count_parameters"]


def build_model(model_cfg: ModelConfig, num_classes: int) -> nn.Module:
    """The network ``model_cfg`` describes with ``num_classes`` outputs (config assumed valid)."""
    if is_cnn(model_cfg):
        from .resnet import build_resnet  # torchvision loads only for a CNN

        return build_resnet(model_cfg.width, num_classes)
    return build_vit(model_cfg, num_classes)
