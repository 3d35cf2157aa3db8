//! Test support: catalog builders and helpers shared by the tests.
