//! The registry seam: the Registry trait, versioned snapshots, and the merge of several registries.
