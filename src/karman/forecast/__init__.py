"""The `forecast` stage: roll a field forward in time and score the rollout against the truth.

Generic like split and train: it reads a store that declares a grouping (the Reynolds
number of each snapshot) and has a `time` coordinate along `sample`, and knows no system
by name.

- `windows`: which frames train and which test (`plan`, `training_windows`), with no
  frame in both, and the normalisation from training frames only;
- `baselines`: forecasters that need no training (`Persistence`, `DMD`);
- `learned`, `pod`, `neural`: the learned forecasters (their base class and training
  windows; POD and ridge; the Keras ones), `rollouts` (a Keras forecaster's rollout, compiled
  whole), `forecasters` (the types, and a config entry or a saved folder made a forecaster);
- `metrics`: VRMSE, nRMSE, correlation and its valid time, The Well's rollout windows,
  spectral error, the rollout's Strouhal number, enstrophy and drift;
- `frontier`: a solver run scored as a forecast (`benchmarks/run.py forecast-frontier`);
- `stage` (the rule's entry), `goals`, `plots`, `store` (the rollout store's contract).

A forecaster, learned or not, has
- `history: int | None`: the steps it reads (None: the task's `history`), passed to
  `windows.plan` so that its rollouts start where its window fits;
- `rollout(history, group, steps) -> np.ndarray`: from `history` (h, y, x) float32, the
  input frames of group `group` (oldest first, `stride` snapshots apart), the next `steps`
  frames (steps, y, x) float32. NaN cells (inside the cylinder) are ignored in the fit
  and stay NaN in the output;
- `rollout_batch(histories, groups, steps)`: the same for a batch of histories (b, h, y, x)
  at once, (b, steps, y, x): what the stage calls, one batch for all its tests.
"""
