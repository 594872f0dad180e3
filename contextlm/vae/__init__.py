"""The sentence-VAE family (Bowman et al. 2016): `config.py` (hyperparameters), `model.py`
(encoder, latent, decoder: where the condition enters), `decoding.py` (greedy, sampling,
beam), `objectives.py` (KL, the loss, IW-NLL, MI, AU), `callbacks.py` (KL annealing: where
the KL weight is set; metrics), `learner.py` (`VAELearner`, model folders), `data.py`
(sentence batches), `plots.py`, `settings.py` + `train.py` (the recipe the CLI, benchmarks
and notebooks share). Submodules are imported explicitly so the CLI never loads torch early.
"""
