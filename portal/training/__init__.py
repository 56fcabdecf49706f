"""The admin training loop: annotations, training and evaluation as background jobs,
activation."""
