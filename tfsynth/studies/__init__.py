"""Studies: rows of renders x training, each scored on the same real photos (run by the commands
tfsynth.experiments and tfsynth.main_job).

spec: the study as data, read and checked for form; checks: its files cross-checked; steps: resumable commands;
runner: StudyRunner; report: results.json, Markdown and plots. Imports flow one way: spec <- checks, steps <- runner
<- the commands (the runner imports report lazily: it loads TensorFlow).
"""
