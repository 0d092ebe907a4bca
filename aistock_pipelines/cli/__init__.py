"""The ``aistock`` command line."""
