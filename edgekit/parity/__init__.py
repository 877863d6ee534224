"""Parity: pure-numpy metrics, query alignment, detection-aware matching, the verdict
and its reports. Only :mod:`edgekit.parity.run` touches runtimes."""
