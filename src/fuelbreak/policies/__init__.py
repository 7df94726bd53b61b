"""The policies shipped in the package: weights (.pt), config (.toml), record (.json), training log and demonstrations."""
