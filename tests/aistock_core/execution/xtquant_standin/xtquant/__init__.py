"""Stand-in for miniQMT's ``xtquant`` package (tests on Linux): the names, signatures, return codes, status codes
and callback order of the real API, backed by a `SimulatedBroker` per account (``xttrader.BACKENDS``)."""
