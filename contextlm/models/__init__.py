"""Models: the feature-conditioned AWD-LSTM and the sentence VAE family."""
