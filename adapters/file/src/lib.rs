//! The static-file registry: services and instances declared in HCL files, watched for edits.
