"""Networks of our own for GeneralPTNN retrains (``pt_model_uri: "mlp.model_cls"``, `NETS_DIR` as code dir).

They are loaded like a research loop's ``model.py`` (audited, imported from the file), never imported as
modules, so our networks and the loops' take the same path.
"""

from pathlib import Path

NETS_DIR = Path(__file__).parent
