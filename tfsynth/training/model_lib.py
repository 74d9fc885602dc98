"""Training and evaluation loops of `python -m tfsynth.model_main_tf2` (the OD API's model_lib_v2).

train_loop: builds the model, input and optimizer from pipeline.config, restores a resumed run or the fine-tune
checkpoint, trains the selected variables, writes checkpoints and TensorBoard summaries to model_dir, and can
evaluate every n steps, keep the best checkpoint (model_dir/best) and stop early.
eval_continuously: evaluates each new checkpoint of checkpoint_dir, writing metrics to model_dir/eval.
"""
from __future__ import annotations

import copy
import inspect
import json
import logging
import os
import tempfile
import time
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf
import tf_keras

from tfsynth.builders import model_builder, optimizer_builder
from tfsynth.core import model_step
from tfsynth.core.standard_fields import InputDataFields as fields
from tfsynth.eval import eval_loop
from tfsynth.training import checkpoints, input_checks, inputs, strategy as strategy_lib, summaries, variables
from tfsynth.utils import config_checks, config_io, config_overrides, label_map_util
from tfsynth.utils.files import write_atomically

logger = logging.getLogger(__name__)


# The seed of train_loop when none is given: a run is reproducible, and one killed and resumed ends as an
# uninterrupted one would (same checkpoint variables), unless seed=None asks for the OD API's unseeded run.
DEFAULT_SEED = 1


class NonFiniteLossError(RuntimeError):
    """The training loss, or a variable about to be checkpointed, became NaN or infinite."""


# ---------------------------------------------------------------- configuration

def load_configs(pipeline_config_path: str, config_override: Optional[str] = None, **overrides: Any) -> dict:
    """pipeline.config (+ config_override text, + keyword overrides such as train_steps) -> configs dict."""
    configs = config_io.get_configs_from_pipeline_file(pipeline_config_path, config_override=config_override)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        configs = config_overrides.merge_external_params_with_configs(configs, None, kwargs_dict=overrides)
    # The form of the config (an empty file, no meta-architecture, batch_size 0) is checked here, before any
    # model is built; inputs and fine_tune_checkpoint are checked by input_checks, with skipping where asked.
    config_checks.check_pipeline_config(configs, pipeline_config_path, check_train_input=False,
                                        check_eval_input=False)
    return configs


def save_final_config(configs: dict, model_dir: str) -> None:
    """Writes the merged configuration to model_dir/pipeline.config (what the run really used)."""
    config_io.save_pipeline_config(config_io.create_pipeline_proto_from_configs(configs), model_dir)


def _meta_config(model_config: Any) -> Any:
    return getattr(model_config, model_config.WhichOneof("model"))


def categories_for(eval_input_config: Any, model_config: Any) -> list[dict]:
    """Categories of the label map of eval_input_config (or class_1..class_N when it names none)."""
    path = getattr(eval_input_config, "label_map_path", "")
    if path:
        return label_map_util.create_categories_from_labelmap(path)
    num_classes = int(getattr(_meta_config(model_config), "num_classes", 1))
    return [{"id": i, "name": f"class_{i}"} for i in range(1, num_classes + 1)]


def _eval_input_config(configs: dict, eval_index: int = 0, eval_on_train_data: bool = False,
                       sample_1_of_n: int = 1) -> Any:
    if eval_on_train_data:
        config = copy.deepcopy(configs["train_input_config"])
    else:
        eval_configs = configs.get("eval_input_configs") or [configs.get("eval_input_config")]
        if eval_index >= len(eval_configs) or eval_configs[eval_index] is None:
            raise ValueError(f"pipeline.config has {len(eval_configs)} eval_input_reader entries; "
                             f"eval_index {eval_index} does not exist")
        config = copy.deepcopy(eval_configs[eval_index])
    config.num_epochs = 1  # one pass over the evaluation data (override_eval_num_epochs)
    if sample_1_of_n and sample_1_of_n > 1:
        config.sample_1_of_n_examples = sample_1_of_n
    if eval_on_train_data:
        config.shuffle = False
    return config


def _call_input_fn(input_fn: Callable, *args: Any, model: Any, input_context: Any = None) -> tf.data.Dataset:
    parameters = inspect.signature(input_fn).parameters
    kwargs = {"model": model}
    if input_context is not None and "input_context" in parameters:
        kwargs["input_context"] = input_context
    return input_fn(*args, **kwargs)


def _distributed_train_dataset(strategy: tf.distribute.Strategy, configs: dict, model: Any,
                               record_filter: Any = None, seed: Optional[int] = None) -> Any:
    train_config, input_config, model_config = (configs["train_config"], configs["train_input_config"],
                                                configs["model"])
    if "input_context" in inspect.signature(inputs.train_input).parameters:
        return strategy.distribute_datasets_from_function(
            lambda context: inputs.train_input(train_config, input_config, model_config, model=model,
                                               input_context=context, record_filter=record_filter, seed=seed))
    # batch_size is the global batch: the strategy splits each batch among the replicas
    return strategy.experimental_distribute_dataset(
        inputs.train_input(train_config, input_config, model_config, model=model, record_filter=record_filter,
                           seed=seed))


# ---------------------------------------------------------------- training

def _as_numpy_scalar(value: Any) -> float:
    return float(np.asarray(value))


def _first_replica(strategy: tf.distribute.Strategy, value: Any) -> Any:
    values = strategy.experimental_local_results(value)
    return values[0]


def train_loop(pipeline_config_path: str, model_dir: str, config_override: Optional[str] = None,
               train_steps: Optional[int] = None, use_tpu: bool = False, save_final_config_file: bool = True,
               checkpoint_every_n: int = 1000, checkpoint_max_to_keep: int = 7, record_summaries: bool = True,
               strategy: Optional[tf.distribute.Strategy] = None, eval_every_n_steps: int = 0,
               early_stopping_metric: Optional[str] = None, early_stopping_patience: int = 0,
               sample_1_of_n_eval_examples: int = 1, log_every_n: int = 100, precision: str = "float32",
               max_eval_batches: Optional[int] = None, on_input_error: str = "stop",
               max_input_check_records: Optional[int] = None, seed: Optional[int] = DEFAULT_SEED,
               **kwargs: Any) -> dict:
    """Trains the model of pipeline_config_path, writing checkpoints and summaries to model_dir.

    seed (the OD API has none; default DEFAULT_SEED): seeds TF, NumPy and Python (model initialisation), the input
    shuffles and the augmentation, keeps the input order, and saves the input iterator in every checkpoint, so
    the same config and seed give the same checkpoints, also when the run is killed and resumed. The cost: the
    iterator's buffers (shuffle_buffer_size serialized records, prefetched batches) are part of each checkpoint,
    and parallel input keeps its order. seed=None: unseeded, as the OD API (input restarts on resume).

    Before any model is built, the input records (train, and eval when evaluating during training) and
    fine_tune_checkpoint are checked (tfsynth.training.input_checks): on_input_error 'stop' raises a ValueError
    naming the file and record at the first bad one, 'skip' counts, logs and leaves bad records out;
    max_input_check_records bounds the records checked per shard (None: all).

    Returns {'step': last step, 'losses': last losses, 'best': best metric value or None, 'stopped_early': bool,
    'resumed_from': checkpoint prefix or None, 'step_seconds': wall time of each step (input + step + loss fetch;
    summary and checkpoint writing excluded), 'precision': dtype policy}.
    Raises NonFiniteLossError (after keeping the last good checkpoint) when the loss becomes NaN or infinite, or
    when a checkpoint is due while a variable is; no checkpoint with a non-finite variable is written.
    """
    previous_policy = tf_keras.mixed_precision.global_policy()
    try:
        return _train(pipeline_config_path, model_dir, config_override, train_steps, use_tpu, save_final_config_file,
                      checkpoint_every_n, checkpoint_max_to_keep, record_summaries, strategy, eval_every_n_steps,
                      early_stopping_metric, early_stopping_patience, sample_1_of_n_eval_examples, log_every_n,
                      precision, max_eval_batches, on_input_error=on_input_error,
                      max_input_check_records=max_input_check_records, seed=seed, **kwargs)
    finally:
        # models built later in this process (eval, export) must not inherit a mixed policy
        tf_keras.mixed_precision.set_global_policy(previous_policy)


def _train(pipeline_config_path: str, model_dir: str, config_override: Optional[str] = None,
           train_steps: Optional[int] = None, use_tpu: bool = False, save_final_config_file: bool = True,
           checkpoint_every_n: int = 1000, checkpoint_max_to_keep: int = 7, record_summaries: bool = True,
           strategy: Optional[tf.distribute.Strategy] = None, eval_every_n_steps: int = 0,
           early_stopping_metric: Optional[str] = None, early_stopping_patience: int = 0,
           sample_1_of_n_eval_examples: int = 1, log_every_n: int = 100, precision: str = "float32",
           max_eval_batches: Optional[int] = None, on_input_error: str = "stop",
           max_input_check_records: Optional[int] = None, seed: Optional[int] = None, **kwargs: Any) -> dict:
    """The body of train_loop (which restores the global dtype policy afterwards)."""
    strategy = strategy or tf.distribute.get_strategy()
    chief = strategy_lib.is_chief(strategy)
    if eval_every_n_steps and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # the chief alone would evaluate and stop early, leaving the other workers waiting in a collective
        raise ValueError("--eval_every_n_steps / early stopping need single-machine training; with several workers "
                         "run a separate evaluator: model_main_tf2 --checkpoint_dir=MODEL_DIR")
    configs = load_configs(pipeline_config_path, config_override, train_steps=train_steps, **kwargs)
    # A field tfsynth would ignore although it changes the result is refused before any record is read.
    input_checks.check_config_fields(configs, pipeline_config_path, train=True,
                                     evaluate=eval_every_n_steps > 0 and chief)
    model_builder.check_model_names(configs["model"])  # a mistyped feature extractor, before records are scanned
    model_config, train_config = configs["model"], configs["train_config"]
    if train_steps is None and train_config.num_steps:
        train_steps = int(train_config.num_steps)
    if not train_steps:
        raise ValueError("number of training steps unknown: set --num_train_steps or train_config.num_steps")
    # Inputs are checked before anything is built or written: a bad record must not surface after minutes of
    # model building as an error naming no file, or as a silent run on background only.
    input_checks.check_fine_tune_checkpoint(train_config, model_dir)
    train_report = input_checks.check_input_reader(configs["train_input_config"], model_config,
                                                   "train_input_reader", on_input_error, max_input_check_records)
    eval_report = None
    if eval_every_n_steps > 0 and chief:
        eval_report = input_checks.check_input_reader(
            _eval_input_config(configs, sample_1_of_n=sample_1_of_n_eval_examples), model_config,
            "eval_input_reader", on_input_error, max_input_check_records)
    use_bfloat16 = bool(getattr(train_config, "use_bfloat16", False)) and use_tpu
    policy = strategy_lib.set_precision(precision, use_tpu=use_tpu, use_bfloat16=use_bfloat16)
    os.makedirs(model_dir, exist_ok=True)
    # Non-chief workers write to a scratch folder (every worker must take part in saving).
    write_dir = model_dir if chief else tempfile.mkdtemp(prefix="tfsynth-worker-")

    unpad = bool(getattr(train_config, "unpad_groundtruth_tensors", True))
    add_regularization = bool(getattr(train_config, "add_regularization_loss", True))
    clip_norm = float(getattr(train_config, "gradient_clipping_by_norm", 0.0))

    if seed is not None:
        tf_keras.utils.set_random_seed(seed)  # TF, NumPy and Python: the model starts from the same weights
    with strategy.scope():
        model = model_builder.build(model_config, is_training=True)
        dataset = _distributed_train_dataset(strategy, configs, model, train_report.record_filter(), seed)
        global_step = tf.Variable(0, trainable=False, dtype=tf.int64, name="global_step",
                                  aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        optimizer, learning_rate_fns = optimizer_builder.build(train_config.optimizer, global_step=global_step)
        if policy == "mixed_float16":
            optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
        iterator = iter(dataset)
        features, labels = next(iterator)

        def build_variables(features):
            model_step.build_model_variables(model, features)

        # On one device predict runs eagerly: the same variables with the same initial values (a seeded SSD's
        # digest matched), 2.3 s sooner than tracing it for SSD MobileNetV2 and 3.5 s for Faster R-CNN. Replicated
        # strategies (mirrored, multi-worker, TPU) trace it, as the OD API does.
        strategy.run(build_variables if not tf.distribute.has_strategy() else tf.function(build_variables),
                     args=(features,))
        saved_objects = dict(step=global_step, model=model, optimizer=optimizer)
        input_objects = None
        if seed is not None and isinstance(iterator, tf.__internal__.tracking.Trackable):
            # The input position, shuffle buffers and seeds: a resumed run reads on as an uninterrupted one.
            input_objects = {"input_iterator": iterator}
        elif seed is not None:
            logger.warning("the input position of this strategy (%s) cannot be checkpointed: a resumed run "
                           "restarts its input, so it will not end as an uninterrupted one",
                           type(strategy).__name__)
        run_checkpoints = checkpoints.RunCheckpoints(
            write_dir, tf.train.Checkpoint(**saved_objects), max_to_keep=checkpoint_max_to_keep,
            required={"step": global_step, "model": model}, input_objects=input_objects)
        fine_tune = getattr(train_config, "fine_tune_checkpoint", "")
        if run_checkpoints.latest is None and fine_tune:
            # As the OD API's TF2 train loop: an unset type follows the deprecated from_detection_checkpoint, so a
            # config naming neither restores a classification checkpoint (the backbone alone).
            config_io.update_fine_tune_checkpoint_type(train_config)
            checkpoints.restore_fine_tune_checkpoint(model, fine_tune, train_config.fine_tune_checkpoint_type)
        all_trainable = list(model.trainable_variables)
        trainable = variables.select_trainable_variables(
            all_trainable, **variables.train_config_selection(train_config, model_config))
        variables.log_selection(trainable, all_trainable, logger)
        # Slots exist before restoring, so a resumed optimizer gets its momentum back at once. Built for all
        # trainable variables: Keras tracks slots by position, which must not depend on the selection.
        getattr(optimizer, "inner_optimizer", optimizer).build(all_trainable)
        try:
            resumed = run_checkpoints.restore_latest()
        except checkpoints.NonFiniteCheckpointError as error:
            raise NonFiniteLossError(f"Cannot resume: {error}") from None
        if resumed and seed is not None:
            # The batch read above (to build the variables) came before the restored input position.
            features, labels = next(iterator)
    # Only once the model is built and restored: a config that cannot be built (an unknown feature extractor, a
    # checkpoint of another shape) must not replace the pipeline.config that the folder's checkpoints were made with.
    if chief and save_final_config_file:
        save_final_config(configs, model_dir)

    num_replicas = strategy.num_replicas_in_sync

    def replica_step(features, labels):
        with tf.GradientTape() as tape:
            losses, _ = model_step.compute_losses(model, features, labels, add_regularization, unpad)
            # Each replica's gradients are summed across replicas: scale so the sum is the batch mean.
            scaled = losses["Loss/total_loss"] / tf.constant(num_replicas, tf.float32)
            if policy == "mixed_float16":
                scaled = optimizer.get_scaled_loss(scaled)
        gradients = tape.gradient(scaled, trainable)
        if policy == "mixed_float16":
            gradients = optimizer.get_unscaled_gradients(gradients)
        if clip_norm > 0:
            gradients, _ = tf.clip_by_global_norm(gradients, clip_norm)
        optimizer.apply_gradients(zip(gradients, trainable))
        return losses

    # autograph=False: the step is TensorFlow ops throughout (tf.cond, tf.while_loop where it branches), so
    # AutoGraph's rewrite of every function it calls (models, losses, target assignment) changes nothing but
    # the time to the first step (SSD MobileNetV2: about 2 of its 6 s of tracing; SSDLite with hard example
    # mining about 4 of 8.6). Python control flow on a tensor would fail at tracing, not run differently.
    @tf.function(autograph=False)
    def distributed_step(features, labels):
        per_replica = strategy.run(replica_step, args=(features, labels))
        reduced = {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                   for name, value in per_replica.items()}
        global_step.assign_add(1)
        # The step and the learning rate it leads to come back with the losses: one call per step, no eager ops.
        learning_rate = (tf.cast(learning_rate_fns[0](), tf.float32) if learning_rate_fns
                         else tf.constant(float("nan")))
        return reduced, global_step.read_value(), learning_rate

    # Loss scalars are always written (as the OD API); record_summaries adds the training images.
    train_writer = tf.summary.create_file_writer(os.path.join(write_dir, "train"))
    try:
        category_index = {c["id"]: c for c in categories_for(configs["train_input_config"], model_config)}
    except (OSError, ValueError) as error:  # only for box labels in TensorBoard: draw class ids instead
        logger.warning("train_input_reader.label_map_path unreadable (%s); training images show class ids", error)
        category_index = None

    best_keeper = None
    if early_stopping_metric and eval_every_n_steps > 0:
        best_keeper = checkpoints.BestCheckpointKeeper(model_dir, early_stopping_metric)
    evaluator = _InTrainingEvaluator(configs, model_dir, sample_1_of_n=sample_1_of_n_eval_examples,
                                     max_batches=max_eval_batches,
                                     record_filter=eval_report.record_filter() if eval_report else None) \
        if eval_every_n_steps > 0 and chief else None

    def save_checkpoint(step: int) -> str:
        # A checkpoint is good only if all its variables are finite (a finite loss does not prove it: batch-norm
        # moving variances can overflow a step before the loss does), so only good ones are written and named.
        try:
            return run_checkpoints.save(step)
        except checkpoints.NonFiniteCheckpointError as error:
            message = (f"Variables became non-finite by step {step}: {error} "
                       f"({len(error.names)} variables in all). Training stopped; the last good checkpoint is "
                       f"{run_checkpoints.latest or '(none saved yet)'}. Lower the learning rate or check the "
                       f"input boxes.")
            logger.error(message)
            raise NonFiniteLossError(message) from None

    step = int(global_step.numpy())
    if step >= train_steps:
        logger.info("model_dir %s already holds step %d >= %d training steps; nothing to do", model_dir, step,
                    train_steps)
    last_losses: dict = {}
    last_time, last_logged_step = time.time(), step
    stopped_early = False
    first = True
    step_seconds: list[float] = []  # wall time of each step (the loss fetch synchronises every step)
    while step < train_steps:
        step_started = time.perf_counter()
        if not first:
            features, labels = next(iterator)
        losses, step, learning_rate = distributed_step(features, labels)
        step = int(step)
        losses_np = {name: _as_numpy_scalar(value) for name, value in losses.items()}
        step_seconds.append(time.perf_counter() - step_started)
        if not np.isfinite(losses_np["Loss/total_loss"]):
            message = (f"Loss became {losses_np['Loss/total_loss']} at step {step} "
                       f"({', '.join(f'{k}={v:.4g}' for k, v in losses_np.items())}). Training stopped; "
                       f"the last good checkpoint is {run_checkpoints.latest or '(none saved yet)'}. "
                       f"Lower the learning rate or check the input boxes.")
            logger.error(message)
            train_writer.flush()
            raise NonFiniteLossError(message)
        last_losses = losses_np
        scalars = dict(losses_np)
        scalars["learning_rate"] = float(learning_rate)
        log_now = step - last_logged_step >= log_every_n or step == train_steps or first
        if log_now:
            elapsed = time.time() - last_time
            steps_per_sec = (step - last_logged_step) / elapsed if elapsed > 0 and step > last_logged_step else 0.0
            if not first:
                scalars["steps_per_sec"] = steps_per_sec
            logger.info("Step %d per-step time %.3fs loss=%.4f", step, 1.0 / steps_per_sec if steps_per_sec else 0,
                        losses_np["Loss/total_loss"])
            last_time, last_logged_step = time.time(), step
        if chief:
            summaries.write_scalars(train_writer, scalars, step, flush=log_now)
            if first and record_summaries:
                _write_training_images(train_writer, strategy, features, labels, category_index, step)
        first = False
        saved = None
        if step % checkpoint_every_n == 0 or step == train_steps or (eval_every_n_steps and
                                                                      step % eval_every_n_steps == 0):
            saved = save_checkpoint(step)
            train_writer.flush()  # the summaries as far as the checkpoint, should the run be killed now
        if evaluator is not None and saved and (step % eval_every_n_steps == 0 or step == train_steps):
            metrics = evaluator.evaluate(saved, step)
            if best_keeper is not None:
                best_keeper.update(metrics, saved, step)
                if early_stopping_patience and best_keeper.evaluations_without_improvement >= early_stopping_patience:
                    logger.info("Early stopping at step %d: %s did not improve for %d evaluations (best %.5f)",
                                step, early_stopping_metric, early_stopping_patience, best_keeper.best_value)
                    stopped_early = True
                    break
    if run_checkpoints.latest is None or not run_checkpoints.latest.endswith(f"ckpt-{step}"):
        if step > 0:
            save_checkpoint(step)  # the last step is always saved
    train_writer.flush()
    return {"step": step, "losses": last_losses, "stopped_early": stopped_early, "resumed_from": resumed,
            "best": best_keeper.best_value if best_keeper else None, "step_seconds": step_seconds,
            "precision": policy}


def _write_training_images(writer: Any, strategy: tf.distribute.Strategy, features: Any, labels: Any,
                           category_index: Optional[dict], step: int) -> None:
    features = _first_replica(strategy, features)
    labels = _first_replica(strategy, labels)
    unstacked = model_step.unstack_batch(labels, True)
    boxes = [np.asarray(b) for b in unstacked[fields.groundtruth_boxes]]
    classes = [np.asarray(model_step.one_hot_to_label_ids(c)) for c in unstacked[fields.groundtruth_classes]]
    images = summaries.training_images_with_boxes(np.asarray(features[fields.image]), boxes, classes, category_index)
    summaries.write_images(writer, "train_input_images", images, step)


# ---------------------------------------------------------------- evaluation

class _Evaluation:
    """An eval model, its dataset, and where its results go."""

    def __init__(self, configs: dict, model_dir: str, sample_1_of_n: int = 1, eval_index: int = 0,
                 eval_on_train_data: bool = False, max_batches: Optional[int] = None, record_filter: Any = None):
        """record_filter: what the input check of the evaluation records left out (skip mode)."""
        self.configs = configs
        self.model_dir = model_dir
        self.max_batches = max_batches
        self.eval_config = configs["eval_config"]
        self.input_config = _eval_input_config(configs, eval_index, eval_on_train_data, sample_1_of_n)
        self.model = model_builder.build(configs["model"], is_training=False)
        self.dataset = inputs.eval_input(self.eval_config, self.input_config, configs["model"], model=self.model,
                                         record_filter=record_filter)
        self.categories = categories_for(self.input_config, configs["model"])
        name = "eval_on_train" if eval_on_train_data else (getattr(self.input_config, "name", "") or "")
        self.writer = tf.summary.create_file_writer(os.path.join(model_dir, "eval", name) if name != "eval_on_train"
                                                    else os.path.join(model_dir, name))
        self._built = False

    def _build(self) -> None:
        if not self._built:
            features, _ = next(iter(self.dataset))
            model_step.build_model_variables(self.model, features)  # eagerly: sooner than tracing it
            self._built = True

    def evaluate(self, checkpoint_prefix: str, step: Optional[int] = None) -> dict:
        """Restores checkpoint_prefix into the eval model, evaluates, writes summaries and JSON; returns metrics."""
        self._build()
        step_variable = tf.Variable(0, dtype=tf.int64)
        # The step is optional (a Zoo checkpoint has none); every model variable must be there with its shape.
        checkpoints.restore_checked(
            {"step": step_variable, "model": self.model}, checkpoint_prefix, "checkpoint to evaluate",
            hint="\n" + checkpoints.misfit_hint("--pipeline_config_path"),
            check={"model": self.model})
        step = int(step_variable.numpy()) if step is None else step
        metrics, images = eval_loop.eager_eval_loop(
            self.model, self.eval_config, self.dataset, self.categories,
            add_regularization_loss=bool(getattr(self.configs["train_config"], "add_regularization_loss", True)),
            max_batches=self.max_batches)
        summaries.write_scalars(self.writer, metrics, step)
        for index, image in enumerate(images):
            summaries.write_images(self.writer, f"eval_side_by_side_{index}", [image], step, max_outputs=1)
        write_metrics_json(self.model_dir, metrics, step)
        logger.info("Eval metrics at step %d: %s", step,
                    ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if "PerformanceByCategory" not in k))
        return metrics


_InTrainingEvaluator = _Evaluation


def write_metrics_json(model_dir: str, metrics: dict, step: int) -> str:
    """model_dir/eval_metrics_STEP.json and model_dir/metrics.json (the latest), written atomically."""
    text = json.dumps({"step": int(step), "metrics": {k: (None if not np.isfinite(v) else v)
                                                      for k, v in metrics.items()}}, indent=2, sort_keys=True)
    paths = [os.path.join(model_dir, f"eval_metrics_{int(step)}.json"), os.path.join(model_dir, "metrics.json")]
    for path in paths:
        write_atomically(path, text)
    return paths[0]


def eval_continuously(pipeline_config_path: str, config_override: Optional[str] = None,
                      train_steps: Optional[int] = None, sample_1_of_n_eval_examples: int = 1,
                      sample_1_of_n_eval_on_train_examples: int = 1, use_tpu: bool = False,
                      model_dir: Optional[str] = None, checkpoint_dir: Optional[str] = None,
                      wait_interval: int = 180, timeout: int = 3600, eval_index: int = 0,
                      eval_on_train_data: bool = False, max_eval_batches: Optional[int] = None,
                      on_input_error: str = "stop", max_input_check_records: Optional[int] = None,
                      **kwargs: Any) -> Optional[dict]:
    """Evaluates every new checkpoint in checkpoint_dir until one reaches train_steps or none arrives for
    `timeout` seconds. Writes summaries under model_dir/eval and JSON metrics into model_dir. Returns the last
    metrics (None when no checkpoint came). The evaluation records are checked first, as in train_loop."""
    if not checkpoint_dir:
        raise ValueError("eval_continuously needs checkpoint_dir (the training run's model_dir)")
    model_dir = model_dir or checkpoint_dir
    os.makedirs(model_dir, exist_ok=True)
    configs = load_configs(pipeline_config_path, config_override, train_steps=train_steps, **kwargs)
    input_checks.check_config_fields(configs, pipeline_config_path, train=False, evaluate=True,
                                     eval_index=eval_index, eval_on_train_data=eval_on_train_data)
    if train_steps is None and configs["train_config"].num_steps:
        train_steps = int(configs["train_config"].num_steps)
    sample = sample_1_of_n_eval_on_train_examples if eval_on_train_data else sample_1_of_n_eval_examples
    report = input_checks.check_input_reader(
        _eval_input_config(configs, eval_index, eval_on_train_data, sample), configs["model"],
        "train_input_reader" if eval_on_train_data else "eval_input_reader", on_input_error, max_input_check_records)
    evaluation = _Evaluation(configs, model_dir, sample, eval_index, eval_on_train_data, max_eval_batches,
                             record_filter=report.record_filter())
    if not tf.io.gfile.isdir(checkpoint_dir):
        # As the OD API, wait for a trainer that has not made the folder yet; but say so, as a typo looks the same.
        logger.warning("checkpoint_dir %s does not exist (yet): waiting up to %d s for a trainer to write "
                       "checkpoints there", checkpoint_dir, timeout)
    metrics = None
    for prefix in tf.train.checkpoints_iterator(checkpoint_dir, min_interval_secs=wait_interval, timeout=timeout):
        try:
            step = checkpoints.checkpoint_step(prefix)
            metrics = evaluation.evaluate(prefix, step)
        except tf.errors.NotFoundError:  # deleted by the trainer's max_to_keep meanwhile
            logger.warning("checkpoint %s disappeared before it was evaluated; waiting for the next", prefix)
            continue
        if train_steps and step is not None and step >= train_steps:
            logger.info("Reached the last training step %d; evaluation finished", step)
            break
    return metrics
