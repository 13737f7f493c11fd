"""The whoosh adapter: if a whoosh upgrade moves the private column layout, this fails loudly
instead of search quietly falling back to a loop forty times slower."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from whoosh import columns, fields, index

from roomscribe.archive.whoosh_columns import numeric_column, reads_block


def test_numeric_columns_are_read_as_one_block_and_match_whooshs_own_values(
        tmp_path: Path) -> None:
    # The index's own kind of column (archive/index.py): signed 64-bit numbers, default 0.
    schema = fields.Schema(n=fields.COLUMN(columns.NumericColumn("q", default=0)),
                           text=fields.TEXT(stored=True))
    ix = index.create_in(str(tmp_path), schema)
    values = [5, -3, 2**40, 0, -(2**62)]
    with ix.writer() as writer:
        for value in values:
            writer.add_document(n=value, text=str(value))
    with ix.searcher() as searcher:
        reader = searcher.reader()
        assert reads_block(reader, "n"), "whoosh's numeric column layout changed: see the adapter"
        column = numeric_column(reader, "n")
        looped = list(reader.column_reader("n", translate=False))
    assert column.dtype == np.int64
    assert column.tolist() == looped
    assert sorted(column.tolist()) != looped  # the stored order, not a sorted copy
    ix.close()
