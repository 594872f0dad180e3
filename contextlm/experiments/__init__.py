"""Experiments people can trust and continue.

- `checkpoints`: a checkpoint at the end of every epoch (and every N batches), written
  atomically, and an exact resume (model, optimizer, one-cycle position, RNG states, the
  loaders' shuffle state, the Recorder's history) for every trainer through
  `contextlm.training.fit_one_cycle(..., checkpoint=...)`.
- `registry`: one folder per training run under `runs/` (settings, command, code version,
  data hashes, history, final metrics); `contextlm runs list|compare`.
- `session`: the glue the `train` commands share (flags, checks before any work).
"""
