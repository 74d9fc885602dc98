r"""Trains or evaluates an object detection model from a pipeline.config (the OD API's model_main_tf2 command).

Training:
  python -m tfsynth.model_main_tf2 --pipeline_config_path=pipeline.config --model_dir=runs/a \
      [--num_train_steps=N] [--checkpoint_every_n=1000] [--eval_every_n_steps=500 \
      --early_stopping_metric=DetectionBoxes_Precision/mAP --early_stopping_patience=5]
Evaluation (waits for new checkpoints of a training run):
  python -m tfsynth.model_main_tf2 --pipeline_config_path=pipeline.config --model_dir=runs/a \
      --checkpoint_dir=runs/a [--eval_timeout=3600]
"""
from __future__ import annotations

import logging
import os
import sys

if __package__ in (None, ""):  # run as a script (python tfsynth/NAME.py): import from the repository root, and
    # not from tfsynth/, whose inspect.py would shadow the standard library's
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags

from tfsynth.utils import cli
from tfsynth.utils.preflight import check_input_file, check_output_dir

flags.DEFINE_string("pipeline_config_path", None, "Path to pipeline config file.")
flags.DEFINE_integer("num_train_steps", None, "Number of train steps.", lower_bound=1)
flags.DEFINE_bool("eval_on_train_data", False, "Enable evaluating on train data (only supported in distributed "
                  "training).")
flags.DEFINE_integer("sample_1_of_n_eval_examples", None, "Will sample one of every n eval input examples, "
                     "where n is provided.", lower_bound=1)
flags.DEFINE_integer("sample_1_of_n_eval_on_train_examples", 5, "Will sample one of every n train input examples "
                     "for evaluation, where n is provided. This is only used if `eval_training_data` is True.",
                     lower_bound=1)
flags.DEFINE_string("model_dir", None, "Path to output model directory where event and checkpoint files will be "
                    "written.")
flags.DEFINE_string("checkpoint_dir", None, "Path to directory holding a checkpoint. If `checkpoint_dir` is "
                    "provided, this binary operates in eval-only mode, writing resulting metrics to `model_dir`.")
flags.DEFINE_integer("eval_timeout", 3600, "Number of seconds to wait for an evaluation checkpoint before exiting.",
                     lower_bound=0)
flags.DEFINE_bool("use_tpu", False, "Whether the job is executing on a TPU.")
flags.DEFINE_string("tpu_name", None, "Name of the Cloud TPU for Cluster Resolvers.")
flags.DEFINE_integer("num_workers", 1, "When num_workers > 1, training uses MultiWorkerMirroredStrategy. When "
                     "num_workers = 1 it uses MirroredStrategy.", lower_bound=1)
flags.DEFINE_integer("checkpoint_every_n", 1000, "Integer defining how often we checkpoint.", lower_bound=1)
flags.DEFINE_boolean("record_summaries", True, "Whether or not to record summaries defined by the model or the "
                     "training pipeline. This does not impact the summaries of the loss values which are always "
                     "recorded.")
# tfsynth additions
flags.DEFINE_string("config_override", None, "pipeline.config text-format fragment merged over the file, e.g. "
                    "'train_config { batch_size: 4 }'.")
flags.DEFINE_integer("eval_every_n_steps", 0, "Evaluate on eval_input_reader every n training steps (0: never; "
                     "a checkpoint is written at each evaluation).", lower_bound=0)
flags.DEFINE_string("early_stopping_metric", None, "Evaluation metric watched for early stopping and the best "
                    "checkpoint (model_dir/best/), e.g. DetectionBoxes_Precision/mAP. Loss/* metrics are "
                    "minimised, others maximised. Needs --eval_every_n_steps.")
flags.DEFINE_integer("early_stopping_patience", 0, "Stop after this many evaluations without improvement "
                     "(0: never stop, only keep the best checkpoint).", lower_bound=0)
flags.DEFINE_enum("precision", "auto", ["auto", "float32", "mixed_float16", "mixed_bfloat16"],
                  "Numeric policy: auto = mixed_float16 on GPU, bfloat16 on TPU with use_bfloat16, else float32.")
flags.DEFINE_enum("on_input_error", "stop", ["stop", "skip"], "Input records are checked before the first step: "
                  "a damaged shard, a record without the OD API keys, a class absent from the label map or a box "
                  "outside [0, 1] stops with an error naming file and record (stop), or is counted, logged and "
                  "left out (skip).")
flags.DEFINE_integer("max_input_check_records", None, "Check at most this many records per shard (default: all; "
                     "every shard's framing is always walked).", lower_bound=1)
flags.DEFINE_integer("seed", 1, "Seeds initialisation, input shuffles and augmentation, and saves the input "
                     "position (with its shuffle buffer) in each checkpoint, so a run killed and resumed ends with the "
                     "checkpoint an uninterrupted one writes. -1: unseeded, as the OD API (smaller checkpoints, input "
                     "restarts on resume).", lower_bound=-1)
flags.DEFINE_integer("eval_wait_interval", 180, "Seconds between looks for a new checkpoint in eval mode.",
                     lower_bound=0)

FLAGS = flags.FLAGS


def check_flags() -> None:
    """The checks that need neither TensorFlow nor the model, so a mistake ends the command in a second rather than
    after TensorFlow's start-up and the model's construction."""
    check_input_file(FLAGS.pipeline_config_path, "--pipeline_config_path")
    check_output_dir(FLAGS.model_dir, "--model_dir")
    if FLAGS.early_stopping_metric and not FLAGS.eval_every_n_steps and not FLAGS.checkpoint_dir:
        raise app.UsageError("--early_stopping_metric needs --eval_every_n_steps > 0")


def main(unused_argv) -> None:
    """Trains, or evaluates with --checkpoint_dir (the OD API's model_main_tf2)."""
    check_flags()
    logging.getLogger().setLevel(logging.INFO)
    import tensorflow as tf

    from tfsynth.training import model_lib, strategy as strategy_lib

    tf.config.set_soft_device_placement(True)
    if FLAGS.checkpoint_dir:
        metrics = model_lib.eval_continuously(
            pipeline_config_path=FLAGS.pipeline_config_path, config_override=FLAGS.config_override,
            model_dir=FLAGS.model_dir, train_steps=FLAGS.num_train_steps,
            sample_1_of_n_eval_examples=FLAGS.sample_1_of_n_eval_examples or 1,
            sample_1_of_n_eval_on_train_examples=FLAGS.sample_1_of_n_eval_on_train_examples,
            checkpoint_dir=FLAGS.checkpoint_dir, wait_interval=FLAGS.eval_wait_interval,
            timeout=FLAGS.eval_timeout, eval_on_train_data=FLAGS.eval_on_train_data,
            on_input_error=FLAGS.on_input_error, max_input_check_records=FLAGS.max_input_check_records)
        if metrics is None:
            # The OD API exits 0 here; a run that evaluated nothing must not pass for one that did.
            raise FileNotFoundError(f"--checkpoint_dir {FLAGS.checkpoint_dir}: no checkpoint there was evaluated "
                                    f"(none appeared within --eval_timeout {FLAGS.eval_timeout} s, or each was "
                                    "deleted by the trainer's max_to_keep before it could be read)")
        return
    strategy = strategy_lib.build_strategy(FLAGS.use_tpu, FLAGS.tpu_name, FLAGS.num_workers)
    with strategy.scope():
        model_lib.train_loop(
            pipeline_config_path=FLAGS.pipeline_config_path, model_dir=FLAGS.model_dir,
            config_override=FLAGS.config_override, train_steps=FLAGS.num_train_steps, use_tpu=FLAGS.use_tpu,
            checkpoint_every_n=FLAGS.checkpoint_every_n, record_summaries=FLAGS.record_summaries,
            strategy=strategy, eval_every_n_steps=FLAGS.eval_every_n_steps,
            early_stopping_metric=FLAGS.early_stopping_metric,
            early_stopping_patience=FLAGS.early_stopping_patience,
            sample_1_of_n_eval_examples=FLAGS.sample_1_of_n_eval_examples or 1, precision=FLAGS.precision,
            on_input_error=FLAGS.on_input_error, max_input_check_records=FLAGS.max_input_check_records,
            seed=None if FLAGS.seed < 0 else FLAGS.seed)


def run() -> None:
    """Entry point (python -m tfsynth.model_main_tf2 / console script); errors end as one line (tfsynth.utils.cli)."""
    # Required here, as the OD API does, not at import: a module that imports this one parses its own flags.
    flags.mark_flag_as_required("model_dir")
    flags.mark_flag_as_required("pipeline_config_path")
    cli.run(main, "model_main_tf2")


if __name__ == "__main__":
    run()
