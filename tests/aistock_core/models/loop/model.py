"""A research loop's network file as RD-Agent writes it (``pt_model_uri: model.model_cls``): a small MLP."""

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_features, num_timesteps=None, hidden=16):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(), nn.Dropout(0.1),
                                    nn.Linear(hidden, 1))

    def forward(self, x):
        x = torch.nan_to_num(x)
        return self.layers(x)


model_cls = Net
