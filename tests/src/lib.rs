//! End-to-end and whole-mesh tests; see `tests/`.
