"""A small perceptron over the feature vector: the default GeneralPTNN network of the walk-forward retrain."""

import torch
from torch import nn


class MLP(nn.Module):
    """Linear → ReLU → Linear, one score per row as a (rows, 1) column (the shape Qlib's loss expects)."""

    def __init__(self, num_features: int, hidden: int = 32):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.layers(torch.nan_to_num(x))


model_cls = MLP
