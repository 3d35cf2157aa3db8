//! HCL decoding with located errors: file, line, column and what was expected.
