"""Objective evaluation in miniature of the paper's metrics: a classifier trained on the dataset's
labels gives accuracy, Frechet distance (FD) and KL against the real held-out clips; a CLAP that was
not used for conditioning gives text-audio similarity."""
