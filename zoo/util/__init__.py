"""Small helpers every part of the core shares: atomic files, network bounds, a quiet TensorFlow."""
