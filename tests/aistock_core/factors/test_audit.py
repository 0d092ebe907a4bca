"""Static audit of RD-Agent factor code: what it rejects (with where and why), and what it lets through."""

from __future__ import annotations

import textwrap

import pytest

from aistock_core.errors import FactorError
from aistock_core.factors.audit import audit_source, require_clean

CLEAN_FUNCTION = textwrap.dedent('''
    import numpy as np
    import pandas as pd

    def calculate_mom_5D():
        df = pd.read_hdf("daily_pv.h5", key="data")
        ret = df["close"].groupby(level="instrument").pct_change(5)
        lag = df["close"].groupby(level="instrument").shift(1)
        out = (ret / lag.replace(0, np.nan)).to_frame("mom_5D").astype("float32")
        out.to_hdf("result.h5", key="data")

    if __name__ == "__main__":
        calculate_mom_5D()
''')


def test_clean_function_style_is_accepted_with_entry_point():
    report = require_clean(CLEAN_FUNCTION)
    assert report.accepted and report.findings == ()
    assert (report.style, report.entry, report.factor_name) == ("function", "calculate_mom_5D", "mom_5D")
    assert len(report.sha256) == 64


def test_styles_are_detected():
    script = 'import pandas as pd\ndf = pd.read_hdf("daily_pv.h5")\ndf[["close"]].to_hdf("result.h5", key="data")\n'
    klass = textwrap.dedent('''
        import pandas as pd
        class Vol10:
            def fit_transform(self, df):
                return df["close"].groupby(level="instrument").pct_change().rolling(10).std()
        def factor_Vol10(df: pd.DataFrame) -> pd.Series:
            return Vol10().fit_transform(df)
    ''')
    bare_class = "class Vol10:\n    def compute(self, df):\n        return df['close']\n"
    assert audit_source(script).style == "script"
    assert (audit_source(klass).style, audit_source(klass).entry, audit_source(klass).factor_name) == \
        ("class", "factor_Vol10", "Vol10")
    assert (audit_source(bare_class).style, audit_source(bare_class).entry) == ("class", "Vol10")


@pytest.mark.parametrize(
    ("source", "rule", "line"),
    [
        ("import os\n", "banned-import", 1),
        ("import os.path as p\n", "banned-import", 1),
        ("x = 1\nfrom subprocess import run\n", "banned-import", 2),
        ("import shutil\n", "banned-import", 1),
        ("import socket\n", "banned-import", 1),
        ("import sys\n", "banned-import", 1),
        ("from importlib import import_module\n", "banned-import", 1),
        ("import ctypes\n", "banned-import", 1),
        ("import pickle\n", "banned-import", 1),
        ("from multiprocessing.pool import Pool\n", "banned-import", 1),
        ("from sklearn.linear_model import LinearRegression\n", "ml-library", 1),
        ("import torch.nn as nn\n", "ml-library", 1),
        ("import lightgbm\n", "ml-library", 1),
        ("eval('1+1')\n", "dynamic-code", 1),
        ("exec('x=1')\n", "dynamic-code", 1),
        ("c = compile('1', 'f', 'eval')\n", "dynamic-code", 1),
        ("m = __import__('o' + 's')\n", "dynamic-code", 1),
        ("f = getattr(__builtins__, 'ev' + 'al')\n", "introspection", 1),
        ("k = ().__class__.__bases__[0].__subclasses__()\n", "introspection", 1),
        ("def f():\n    pass\ng = f.__globals__\n", "introspection", 3),
        ("f = getattr(object, '__subclasses__')\n", "introspection", 1),
        ("import pandas as pd\npd.io.common.os.system('ls')\n", "banned-module-attr", 2),
        ("open('/etc/passwd', 'w').write('x')\n", "file-write", 1),
        ("open('out.txt', mode='a')\n", "file-write", 1),
        ("m = 'w'\nopen('result.h5', m)\n", "file-write", 2),
        ("import pandas as pd\npd.DataFrame().to_csv('/tmp/x.csv')\n", "file-write", 2),
        ("import pandas as pd\npd.DataFrame().to_hdf('/tmp/result.h5', key='data')\n", "file-write", 2),
        ("import pandas as pd\npd.DataFrame().to_parquet(path='x.parquet')\n", "file-write", 2),
        ("import numpy as np\nnp.save('x.npy', np.ones(2))\n", "file-write", 2),
        ("from pathlib import Path\nPath('x').write_text('y')\n", "file-write", 2),
        ("from pathlib import Path\nPath('/tmp/x').unlink()\n", "file-write", 2),
        ("import pandas as pd\ns = pd.Series([1.0])\ny = s.shift(-1)\n", "look-ahead", 3),
        ("import pandas as pd\ns = pd.Series([1.0])\nk = 2\ny = s.shift(periods=-k)\n", "look-ahead", 4),
        ("import pandas as pd\ns = pd.Series([1.0])\ny = s.pct_change(-5)\n", "look-ahead", 3),
        ("def f(:\n", "syntax", 1),
        # bypasses found by trying (issue 16): each one got past the audit before
        ("import pandas as pd\nm = pd.io.common.__dict__['o' + 's']\n", "introspection", 2),
        ("import pandas as pd\nm = getattr(pd.io.common, 'o' + 's')\n", "introspection", 2),
        ("import pandas as pd\nm = getattr(pd.io.common, '_os')\n", "introspection", 2),
        ("e = exec\ne('x = 1')\n", "dynamic-code", 1),
        ("x = 1\ng = getattr\nm = g(object, 'y')\n", "dynamic-code", 2),
        ("fs = [eval][0]\n", "dynamic-code", 1),
        ("from pathlib import Path\nPath('/tmp/x').open('w')\n", "file-write", 2),
        ("from pathlib import Path\nPath('result.h5').open(mode='wb')\n", "file-write", 2),
        ("open('/tmp/x', **{'mode': 'w'})\n", "file-write", 1),
        ("open('/tmp/x', 'r', opener=lambda p, f: f)\n", "file-write", 1),
        ("import _posixsubprocess\n", "banned-import", 1),
        ("import _socket\n", "banned-import", 1),
        ("from _pickle import loads\n", "banned-import", 1),
        ("import _posixshmem\n", "banned-import", 1),
        ("import sqlite3\n", "banned-import", 1),
        ("import pyarrow.fs as fs\n", "banned-import", 1),
    ],
)
def test_rejections_carry_line_column_and_reason(source, rule, line):
    report = audit_source(source)
    assert not report.accepted
    hits = [f for f in report.findings if f.rule == rule]
    assert hits, report.summary()
    assert hits[0].line == line and hits[0].col >= 0 and hits[0].reason
    with pytest.raises(FactorError, match=rf"line {line}, col \d+: \[{rule}\]"):
        require_clean(source)


@pytest.mark.parametrize(
    "source",
    [
        "import pandas as pd\ns = pd.Series([1.0]).shift(1)\n",
        "import pandas as pd\ns = pd.Series([1.0]).shift(0)\n",
        "import pandas as pd\ntext = pd.DataFrame().to_csv()\n",
        "import pandas as pd\ndf = pd.DataFrame().rename(columns={'a': 'b'}).replace(0, 1)\n",
        "import pandas as pd\npd.DataFrame().to_hdf('result.h5', key='data', mode='w')\n",
        "with open('result.h5', 'wb') as fh:\n    pass\n",
        "with open('daily_pv.h5', 'rb') as fh:\n    head = fh.read(8)\n",
        "from pathlib import Path\np = Path('daily_pv.h5').exists()\n",
        "import math, datetime, typing, functools, itertools\nfrom collections import deque\n",
        "from __future__ import annotations\nimport pandas as pd\n",
        "import pandas as pd\nv = getattr(pd.Series([1.0]), 'mean')()\n",
        "from pathlib import Path\ntext = Path('daily_pv.h5').open('rb').read(8)\n",
    ],
)
def test_ordinary_factor_code_passes(source):
    assert audit_source(source).accepted, audit_source(source).summary()


def test_every_finding_is_reported_not_just_the_first():
    report = audit_source("import os\nimport subprocess\neval('1')\n")
    assert [f.line for f in report.findings] == [1, 2, 3]
    assert "3 finding(s)" in report.summary()
