"""The feature-conditioned AWD-LSTM: `model.py` (where the context enters), `data.py`
(`ContextLanguageModelLoader`: where a batch is cut), `learner.py` (learner, trained model,
model folders), `sampling.py` (batched sampling, guidance), `plots.py`, `settings.py` +
`train.py` (the recipe the CLI, benchmarks and notebooks share). Submodules are imported
explicitly so the CLI never loads torch early.
"""
