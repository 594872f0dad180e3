"""Experiments people can trust and continue.

- `checkpoints`: a checkpoint at the end of every epoch (and every N batches), written
  atomically, and an exact resume (model, optimizer, one-cycle position, RNG states, the
  loaders' shuffle state, the Recorder's history) for every trainer through
  `contextlm.training.fit_one_cycle(..., checkpoint=...)`; the plan (folder, lock, refusals).
  Its pieces: `checkpoint_file` (names, format, reading one back), `checkpoint_callback`
  (the fastai callback), `rng_state` (random states), `learner_state` (hidden state, history).
- `registry`: one folder per training run under `runs/` (settings, command, code version,
  data hashes, history, final metrics); `registry_lookup` reads it back (list, find) and
  `registry_reports` shows it (`contextlm runs list|compare`: tables, loss/KL plot).
- `session`: the glue the `train` commands share (flags, checks before any work).
- `sweep`: Optuna sweeps (`contextlm sweep lm|vae|show`): `--param` parsed against the
  settings' fields and bounds, a resumable study in SQLite, `--jobs` spawned workers, the
  best trial's model folder; `pruning`: the fastai callback that reports each epoch to the
  trial and stops a pruned fit.
"""
