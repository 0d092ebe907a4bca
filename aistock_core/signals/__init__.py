"""Signals box: trading signals with a lifecycle, shared by preview and paper/live, and their evaluation.

``lifecycle`` (states and allowed transitions), ``generate`` (target diffs → signals), ``store`` (persistence,
every transition with its cause), ``outcomes`` (what the preview engine and the order runner did, read back from
their tables), ``evaluate`` (per-signal scores). Instances and their ids are `aistock_core.instances` (shared with
the feedback box); the performance analysis itself lives in `aistock_core.feedback.analyzer`.
"""
