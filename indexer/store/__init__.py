"""The LevelDB index: key encodings, opening and locking, atomic block batches with undo."""
