"""The PII scanner: read a bounded sample, propose a category per column, explain why.

Pure Python, no Django models: ``read_sample`` turns a file or a PostgreSQL table into a
``Sample``; ``scan_sample`` turns a ``Sample`` into one ``ColumnProposal`` per column."""

from datasets.scanner.engine import ColumnProposal, Signal, scan_sample
from datasets.scanner.readers import Sample, SampleError, SampleSource, read_sample

__all__ = [
    "ColumnProposal",
    "Sample",
    "SampleError",
    "SampleSource",
    "Signal",
    "read_sample",
    "scan_sample",
]
