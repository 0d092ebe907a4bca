"""Alpha158 and Alpha360 as Qlib 0.9.7 defines them (``qlib/contrib/data/loader.py``), names and order exact.

Alpha158 = ``Alpha158DL.get_feature_config()`` with its default config: 9 k-bar features, 4 price ratios
(window 0 of OPEN/HIGH/LOW/VWAP) and 29 rolling families × windows (5, 10, 20, 30, 60), family-major. The
expression strings are Qlib's own text, so the models trained on them see the same inputs here.
"""

from __future__ import annotations

#: What Alpha158's default handler predicts: the return from t+1's close to t+2's close.
ALPHA158_LABEL = "Ref($close, -2)/Ref($close, -1) - 1"

ROLLING_WINDOWS = (5, 10, 20, 30, 60)

_KBAR = {
    "KMID": "($close-$open)/$open",
    "KLEN": "($high-$low)/$open",
    "KMID2": "($close-$open)/($high-$low+1e-12)",
    "KUP": "($high-Greater($open, $close))/$open",
    "KUP2": "($high-Greater($open, $close))/($high-$low+1e-12)",
    "KLOW": "(Less($open, $close)-$low)/$open",
    "KLOW2": "(Less($open, $close)-$low)/($high-$low+1e-12)",
    "KSFT": "(2*$close-$high-$low)/$open",
    "KSFT2": "(2*$close-$high-$low)/($high-$low+1e-12)",
}

_SUM_UP = "Sum(Greater({f}-Ref({f}, 1), 0), {d})"
_SUM_DOWN = "Sum(Greater(Ref({f}, 1)-{f}, 0), {d})"
_SUM_ABS = "(Sum(Abs({f}-Ref({f}, 1)), {d})+1e-12)"
_ABS_RET_VOL = "Abs($close/Ref($close, 1)-1)*$volume"

#: family → template over window ``{d}``, in Qlib's order (Alpha158DL's ``use(...)`` blocks).
_ROLLING: dict[str, str] = {
    "ROC": "Ref($close, {d})/$close",
    "MA": "Mean($close, {d})/$close",
    "STD": "Std($close, {d})/$close",
    "BETA": "Slope($close, {d})/$close",
    "RSQR": "Rsquare($close, {d})",
    "RESI": "Resi($close, {d})/$close",
    "MAX": "Max($high, {d})/$close",
    "MIN": "Min($low, {d})/$close",
    "QTLU": "Quantile($close, {d}, 0.8)/$close",
    "QTLD": "Quantile($close, {d}, 0.2)/$close",
    "RANK": "Rank($close, {d})",
    "RSV": "($close-Min($low, {d}))/(Max($high, {d})-Min($low, {d})+1e-12)",
    "IMAX": "IdxMax($high, {d})/{d}",
    "IMIN": "IdxMin($low, {d})/{d}",
    "IMXD": "(IdxMax($high, {d})-IdxMin($low, {d}))/{d}",
    "CORR": "Corr($close, Log($volume+1), {d})",
    "CORD": "Corr($close/Ref($close,1), Log($volume/Ref($volume, 1)+1), {d})",
    "CNTP": "Mean($close>Ref($close, 1), {d})",
    "CNTN": "Mean($close<Ref($close, 1), {d})",
    "CNTD": "Mean($close>Ref($close, 1), {d})-Mean($close<Ref($close, 1), {d})",
    "SUMP": _SUM_UP.format(f="$close", d="{d}") + "/" + _SUM_ABS.format(f="$close", d="{d}"),
    "SUMN": _SUM_DOWN.format(f="$close", d="{d}") + "/" + _SUM_ABS.format(f="$close", d="{d}"),
    "SUMD": "(" + _SUM_UP.format(f="$close", d="{d}") + "-" + _SUM_DOWN.format(f="$close", d="{d}") + ")/"
    + _SUM_ABS.format(f="$close", d="{d}"),
    "VMA": "Mean($volume, {d})/($volume+1e-12)",
    "VSTD": "Std($volume, {d})/($volume+1e-12)",
    "WVMA": f"Std({_ABS_RET_VOL}, {{d}})/(Mean({_ABS_RET_VOL}, {{d}})+1e-12)",
    "VSUMP": _SUM_UP.format(f="$volume", d="{d}") + "/" + _SUM_ABS.format(f="$volume", d="{d}"),
    "VSUMN": _SUM_DOWN.format(f="$volume", d="{d}") + "/" + _SUM_ABS.format(f="$volume", d="{d}"),
    "VSUMD": "(" + _SUM_UP.format(f="$volume", d="{d}") + "-" + _SUM_DOWN.format(f="$volume", d="{d}") + ")/"
    + _SUM_ABS.format(f="$volume", d="{d}"),
}


def alpha158_expressions() -> dict[str, str]:
    """The 158 Alpha158 features, name → Qlib expression, in Qlib's column order."""
    out = dict(_KBAR)
    for field in ("open", "high", "low", "vwap"):
        out[f"{field.upper()}0"] = f"${field}/$close"
    for family, template in _ROLLING.items():
        for d in ROLLING_WINDOWS:
            out[f"{family}{d}"] = template.format(d=d)
    return out


def alpha360_expressions() -> dict[str, str]:
    """The 360 Alpha360 features (60 days of prices / volume normalised by today's close / volume)."""
    out: dict[str, str] = {}
    for field in ("close", "open", "high", "low", "vwap"):
        for i in range(59, 0, -1):
            out[f"{field.upper()}{i}"] = f"Ref(${field}, {i})/$close"
        out[f"{field.upper()}0"] = f"${field}/$close"
    for i in range(59, 0, -1):
        out[f"VOLUME{i}"] = f"Ref($volume, {i})/($volume+1e-12)"
    out["VOLUME0"] = "$volume/($volume+1e-12)"
    return out
