"""Studies: rows of renders x training, each scored on the same real photos (run by the commands
tfsynth.experiments and tfsynth.main_job).

spec: the study as data, read and checked for form; checks: its files cross-checked; steps: resumable commands;
scaling: --scale (every row at a fraction of its renders and steps); catalogs: a row's cut catalog (looks per class,
distractor kinds); runner: StudyRunner; report: results.json, Markdown and plots (the study's quantity against
mAP@0.5). Imports flow one way: spec <- catalogs, checks, scaling; steps <- runner <- the commands (the runner
imports report lazily: it loads TensorFlow).
"""
