"""Qlib 0.9.7's ``GeneralPTNN`` (``qlib/contrib/model/pytorch_general_nn.py``) on tabular ``DatasetH`` data.

The network is the research loop's own ``model.py`` class (``pt_model_uri: "model.model_cls"``,
``pt_model_kwargs``). That file was written by an LLM, so it passes the factor-code audit gate
(`aistock_core.factors.audit`, with torch allowed and torch's code/file loaders banned) before it is imported;
a rejected file is one `ModelError` listing every finding. Unlike factor code it then runs in this process
(a network is called thousands of times per epoch), so the audit is the gate, not an OS sandbox.

The training loop is Qlib's, step for step, because the random streams must line up for the same seed to give
the same network: a ``DataLoader`` (shuffle, ``drop_last``) per pass, Adam or SGD ("gd") with weight decay,
``ReduceLROnPlateau(min, factor 0.5, patience 5, min_lr 1e-6, threshold 1e-5)`` on the valid score, gradient
values clipped at 3.0, early stop after ``early_stop`` epochs without a better valid score, the best state
restored. Qlib's loss is reproduced as written, including its broadcasting of ``label.view(-1, 1)`` and its
float64 weights. One difference is deliberate: Qlib seeds *after* building the network, so its initial
weights are not reproducible; we seed before building as well (and again after, where Qlib does), so a given
seed always gives the same model on CPU. A missing ``seed`` means 0, never an unseeded run. ``GPU`` and
``n_jobs`` are accepted and logged but change nothing: training runs on the CPU, batches are taken in-process
(the DataLoader draws the same random numbers with or without worker processes).
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aistock_core.errors import ModelError
from aistock_core.models.dataset import Dataset

#: GeneralPTNN's constructor kwargs and Qlib's defaults (``pt_model_uri`` has no usable default here).
OWN_KWARGS: dict[str, Any] = {
    "n_epochs": 200, "lr": 0.001, "metric": "", "batch_size": 2000, "early_stop": 20, "loss": "mse",
    "weight_decay": 0.0, "optimizer": "adam", "n_jobs": 10, "GPU": 0, "seed": None, "pt_model_uri": None,
    "pt_model_kwargs": None,
}
OPTIMIZERS = ("adam", "gd")
#: torch attributes that load code or files; a network definition needs none of them.
MODEL_BANNED_ATTRS = frozenset({"hub", "cpp_extension", "load_library", "load", "from_file", "_C"})


def check_kwargs(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - set(OWN_KWARGS))
    if unknown:
        raise ModelError(f"GeneralPTNN: unknown kwarg(s) {unknown}; supported: {sorted(OWN_KWARGS)}")
    if not isinstance(kwargs.get("pt_model_uri"), str):
        raise ModelError("GeneralPTNN: pt_model_uri is required: the loop's network class, e.g. 'model.model_cls' "
                         "(model.py next to the workflow config)")
    if str(kwargs.get("optimizer", "adam")).lower() not in OPTIMIZERS:
        raise ModelError(f"GeneralPTNN: optimizer {kwargs['optimizer']!r} is not supported; supported: adam, gd")
    if kwargs.get("loss", "mse") != "mse":
        raise ModelError(f"GeneralPTNN: loss {kwargs['loss']!r} is not supported (Qlib accepts 'mse')")
    if kwargs.get("metric", "") not in ("", "loss"):
        raise ModelError(f"GeneralPTNN: metric {kwargs['metric']!r} is not supported (Qlib accepts '' or 'loss')")


def model_file(uri: str, code_dir: str | Path | None) -> tuple[Path, str]:
    """``"model.model_cls"`` → (``code_dir/model.py``, ``"model_cls"``): the loop's file, never an installed module."""
    module, _, attr = uri.rpartition(".")
    if not module or not attr:
        raise ModelError(f"pt_model_uri {uri!r} is not 'module.Class' (RD-Agent writes 'model.model_cls')")
    if code_dir is None:
        raise ModelError(f"pt_model_uri {uri!r} names the loop's {module}.py, but no code directory is known; load "
                         "the workflow from its file (model.py beside it) or pass the loop's directory")
    path = Path(code_dir) / (module.replace(".", "/") + ".py")
    if not path.is_file():
        raise ModelError(f"pt_model_uri {uri!r}: {path} does not exist (only the loop's own model file is loaded, "
                         "never an installed module)")
    return path, attr


def load_network_class(path: Path, attr: str) -> type:
    """The class ``attr`` of the loop file ``path``, imported only after the audit accepted the file."""
    from aistock_core.factors.audit import audit_source

    source = path.read_text()
    report = audit_source(source, path.name, allow_ml=True, extra_banned_attrs=MODEL_BANNED_ATTRS)
    if not report.accepted:
        raise ModelError(f"model code {report.summary()}\nA network file may define torch modules only; remove "
                         "these constructs and audit again.")
    spec = importlib.util.spec_from_file_location(f"aistock_loop_model_{report.sha256[:16]}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the loop's code: any failure is that file's fault, reported as one line
        raise ModelError(f"{path} failed to import: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise ModelError(f"{path} has no class {attr!r}")
    return cls


def build_network(uri: str, kwargs: dict[str, Any] | None, code_dir: str | Path | None):
    cls = load_network_class(*model_file(uri, code_dir))
    try:
        return cls(**(kwargs or {}))
    except TypeError as exc:
        raise ModelError(f"pt_model_kwargs {kwargs!r} do not fit {uri}: {exc}") from None


class TorchPredictor:
    """A network in eval mode scoring (rows × features) arrays in Qlib's prediction batches."""

    def __init__(self, net, batch_size: int = 2000) -> None:
        self.net, self.batch_size = net, batch_size

    def num_feature(self) -> int | None:
        """The input width of the network's first layer (Linear or recurrent), None when it has neither."""
        for module in self.net.modules():
            for attr in ("in_features", "input_size"):
                if isinstance(getattr(module, attr, None), int):
                    return int(getattr(module, attr))
        return None

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        self.net.eval()
        data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        out = []
        with torch.no_grad():
            for start in range(0, len(data), self.batch_size):
                out.append(self.net(data[start:start + self.batch_size].float()).detach().cpu().numpy())
        preds = np.concatenate(out) if out else np.empty(0, dtype=np.float32)
        return preds.ravel() if preds.ndim != 1 else preds


class _Rows:
    """(data, weight) batches by index list, fetched in one take (the DataLoader's ``__getitems__``)."""

    def __init__(self, data, weight) -> None:
        self.data, self.weight = data, weight

    def __len__(self) -> int:
        return len(self.data)

    def __getitems__(self, idx: list[int]):
        import torch

        rows = torch.as_tensor(idx)
        return self.data[rows], self.weight[rows]


def _first(batch):
    return batch


class GeneralPTNN:
    """Qlib's GeneralPTNN; ``evals`` keeps each epoch's train/valid score, ``net`` the best state."""

    def __init__(self, code_dir: str | Path | None = None, **kwargs: Any) -> None:
        check_kwargs(kwargs)
        kw = {**OWN_KWARGS, **kwargs}
        self.kwargs = kwargs
        self.n_epochs, self.lr, self.metric = int(kw["n_epochs"]), float(kw["lr"]), kw["metric"]
        self.batch_size, self.early_stop = int(kw["batch_size"]), int(kw["early_stop"])
        self.loss, self.weight_decay, self.optimizer = kw["loss"], float(kw["weight_decay"]), kw["optimizer"].lower()
        self.seed = 0 if kw["seed"] is None else int(kw["seed"])
        self.pt_model_uri, self.pt_model_kwargs = kw["pt_model_uri"], dict(kw["pt_model_kwargs"] or {})
        self.code_dir = code_dir
        self.model_path, _ = model_file(self.pt_model_uri, code_dir)
        self.net = None
        self.evals: dict[str, dict[str, list[float]]] = {}
        self.best_epoch = 0
        self.feature_names: list[str] = []

    # --- Qlib's loss and metric, as written (pred/label broadcasting and float64 weights included) ---
    def _loss_fn(self, pred, label, weight=None):
        import torch

        mask = ~torch.isnan(label)
        if weight is None:
            weight = torch.ones_like(label)
        return torch.mean(weight[mask] * (pred[mask] - label[mask].view(-1, 1)) ** 2)

    def _metric_fn(self, pred, label):
        import torch

        mask = torch.isfinite(label)
        return self._loss_fn(pred[mask], label[mask])

    def _loader(self, frame, shuffle: bool):
        import torch
        from torch.utils.data import DataLoader

        data = np.ascontiguousarray(np.vstack([frame.groups["feature"], frame.groups["label"]]).T)
        rows = _Rows(torch.from_numpy(data), torch.ones(len(data), dtype=torch.float64))
        return DataLoader(rows, batch_size=self.batch_size, shuffle=shuffle, drop_last=True, collate_fn=_first)

    def _train_epoch(self, loader, optimizer) -> None:
        import torch

        self.net.train()
        for data, weight in loader:
            pred = self.net(data[:, :-1].float())
            loss = self._loss_fn(pred, data[:, -1], weight)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_value_(self.net.parameters(), 3.0)
            optimizer.step()

    def _test_epoch(self, loader) -> tuple[float, float]:
        import torch

        self.net.eval()
        losses, scores = [], []
        for data, weight in loader:
            label = data[:, -1]
            with torch.no_grad():
                pred = self.net(data[:, :-1].float())
                losses.append(self._loss_fn(pred, label, weight).item())
                scores.append(self._metric_fn(pred, label).item())
        return float(np.mean(losses)), float(np.mean(scores))

    def _segment(self, dataset: Dataset, segment: str):
        if segment not in dataset.spec.segments:
            raise ModelError(f"GeneralPTNN trains on 'train' and early-stops on 'valid'; the dataset has no "
                             f"{segment!r} segment")
        frame = dataset.segment(segment, "learn")
        if len(frame.index) == 0:
            raise ModelError(f"segment {segment!r} has no rows after the learn processors; check its window")
        labels = frame.groups["label"].shape[0]
        if labels != 1:
            raise ModelError(f"GeneralPTNN trains on one label column, the handler has {labels}")
        return frame

    def fit(self, dataset: Dataset) -> GeneralPTNN:
        import torch
        from torch.optim.lr_scheduler import ReduceLROnPlateau

        train, valid = self._segment(dataset, "train"), self._segment(dataset, "valid")
        if len(valid.index) < self.batch_size:
            raise ModelError(f"valid has {len(valid.index)} rows, fewer than batch_size {self.batch_size}: with "
                             "Qlib's drop_last no valid batch would be scored; lower batch_size")
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        self.net = build_network(self.pt_model_uri, self.pt_model_kwargs, self.code_dir)
        np.random.seed(self.seed)  # where Qlib seeds: after the network, before the optimizer and the loaders
        torch.manual_seed(self.seed)
        optim_cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.SGD
        optimizer = optim_cls(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        scheduler = ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=5, min_lr=1e-6, threshold=1e-5)
        train_loader, valid_loader = self._loader(train, True), self._loader(valid, False)
        self.evals = {"train": {"loss": []}, "valid": {"loss": []}}
        best_score, stop_steps, best_param = np.inf, 0, None
        for step in range(self.n_epochs):
            self._train_epoch(train_loader, optimizer)
            _, train_score = self._test_epoch(train_loader)
            _, val_score = self._test_epoch(valid_loader)
            self.evals["train"]["loss"].append(train_score)
            self.evals["valid"]["loss"].append(val_score)
            scheduler.step(val_score)
            if step == 0:
                best_param = copy.deepcopy(self.net.state_dict())
            if val_score < best_score:
                best_score, stop_steps, self.best_epoch = val_score, 0, step
                best_param = copy.deepcopy(self.net.state_dict())
            else:
                stop_steps += 1
                if stop_steps >= self.early_stop:
                    break
        self.net.load_state_dict(best_param)
        self.feature_names = dataset.feature_names
        return self

    @property
    def predictor(self) -> TorchPredictor:
        if self.net is None:
            raise ModelError("GeneralPTNN is not fitted; train it (aistock models train) or load a registered one")
        return TorchPredictor(self.net, self.batch_size)

    def predict_frame(self, features: pd.DataFrame) -> pd.Series:
        return pd.Series(self.predictor.predict(features.to_numpy()), index=features.index, name="score")

    def predict(self, dataset: Dataset, segment: str | slice = "test") -> pd.Series:
        return self.predict_frame(dataset.prepare(segment, "feature", "infer"))

    @property
    def best_iteration(self) -> int:
        return self.best_epoch

    def log_params(self) -> dict[str, Any]:
        return {**{f"ptnn.{k}": v for k, v in self.kwargs.items()}, "ptnn.seed_used": self.seed,
                "ptnn.model_sha256": hashlib.sha256(self.model_path.read_bytes()).hexdigest()}

    def feature_importance(self) -> dict[str, float]:
        return {}  # a network has no split gains; MLflow gets none rather than a made-up proxy


def load_torch_predictor(state_dict: str | Path, kwargs: dict[str, Any], code_dir: str | Path | None):
    """A saved GeneralPTNN: the audited network of ``kwargs['pt_model_uri']`` with the weights of ``state_dict``.

    ``torch.load(weights_only=True)`` reads tensors only (no pickled code); a state dict that does not fit the
    network (other layer names or shapes) is one `ModelError`.
    """
    import torch

    check_kwargs(kwargs)
    path = Path(state_dict)
    if not path.is_file():
        raise ModelError(f"state dict {path} does not exist")
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or pickled-code file: refused either way
        raise ModelError(f"{path} is not a torch state dict (weights only): {type(exc).__name__}: {exc}") from None
    net = build_network(kwargs["pt_model_uri"], kwargs.get("pt_model_kwargs"), code_dir)
    try:
        net.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()
        raise ModelError(f"{path} does not fit {kwargs['pt_model_uri']}: {' '.join(first[:2])}") from None
    return TorchPredictor(net, int(kwargs.get("batch_size", OWN_KWARGS["batch_size"])))
