"""The data files the handbook's parts exchange, one typed model each, and the one way to write them.

- `snapshot`: `book/data/snapshot.json`, written by `hpc-handbook probe`, read by the drift
  check, the changelog of system changes and the book;
- `waiting_times`: `book/data/waiting-times.json`, written by `hpc-handbook waiting-times
  collect`, read by the book;
- `examples_report`: `_build/reports/examples.json`, written by `hpc-handbook examples`, read
  by the book's badges and scorecard;
- `verification`: the `handbook_verification` record in each example's metadata, written by
  `hpc-handbook refresh`, read by the book's badges;
- `notify_state`: `_build/reports/notify-state.json`, what the last notification said.

Each model carries a `format` version; a load function per file returns None when the
file does not exist and raises `HandbookInputError` naming the file and the field when
it is not valid. Every producer writes through `files.write_atomically`.
"""

from __future__ import annotations

from hpc_handbook.data.files import write_atomically, write_json

__all__ = ["write_atomically", "write_json"]
