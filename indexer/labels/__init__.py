"""Exchange labels (SPEC sections 5 and 8): label files, label sets held in the index, and the
labels derived from the chain.

- `rows`: the labels CSV, read and written a row at a time.
- `labelset`: a label set's canonical form (deduplicated, sorted, identified by its sha256),
  made from a file without holding its rows in memory.
- `indexed`: a label set written into the index, and the exchange lookup the cohort step uses
  (a fingerprint filter in memory, LevelDB the exact store).
- `exchanges`: the exchanges of a label set as series entities (ids and slugs).
- `coinjoin`, `derive`: the derive rules R0–R2 and the passes to their fixpoint.
"""
