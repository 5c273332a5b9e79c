"""The data files the handbook's parts exchange, one typed model each, and the one way to write them.

- `snapshot`: `book/data/snapshot.json`, written by `hpc-handbook probe`, read by the drift
  check, the changelog of system changes and the book;
- `waiting_times`: `book/data/waiting-times.json`, written by `hpc-handbook waiting-times
  collect`, read by the book;
- `examples_report`: `_build/reports/examples.json`, written by `hpc-handbook examples`, read
  by the book's badges and scorecard, and the JUnit XML that the doc CI and the prose check write;
- `verification`: the `handbook_verification` record in each example's metadata, written by
  `hpc-handbook refresh`, read by the book's badges;
- `notify_state`: `_build/reports/notify-state.json`, what the last notification said;
- `service_measurements`, `ui_snapshot`, `alert_example`: the spawn times, the UI's names and
  screenshots, and the recorded alert, each written by its command and read by the book;
- `measured_on`: what the site was when a figure was measured, so a page can say it is stale;
- `network_profiles`: the links the network bench emulates (`network_profiles.yml`, packaged).

Each model carries a `format` version; a load function per file returns None when the
file does not exist and raises `HandbookInputError` naming the file and the field when
it is not valid. Every producer writes through `files.write_atomically`.
"""
