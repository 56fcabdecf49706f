"""The admin training loop: annotations, background training, evaluation, activation."""
