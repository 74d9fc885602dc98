"""Strategies and precision: two local CPU workers under MultiWorkerMirroredStrategy (TF_CONFIG on localhost,
two processes of the real command), the evaluation command on their checkpoints, and mixed_float16 training."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import tensorflow as tf
import tf_keras

from tests import train_fixtures as fixtures
from tests.commands import REPO, run_command


from tfsynth.training import model_lib  # noqa: E402



def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _command(script_args, env=None):
    return [sys.executable, "-m", "tfsynth.model_main_tf2"] + script_args


def test_two_workers_then_eval_command(tmp_path):
    pipeline = fixtures.write_pipeline(str(tmp_path))
    model_dir = str(tmp_path / "model")
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}}),
                   CUDA_VISIBLE_DEVICES="")
        processes.append(subprocess.Popen(
            _command([f"--pipeline_config_path={pipeline}", f"--model_dir={model_dir}", "--num_train_steps=2",
                      "--num_workers=2", "--checkpoint_every_n=1", "--precision=float32"]),
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=600)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-2")
    # evaluation mode of the command: evaluates the newest checkpoint, stops at the last training step
    eval_dir = str(tmp_path / "eval")
    result = run_command(_command([f"--pipeline_config_path={pipeline}", f"--model_dir={eval_dir}",
                                       f"--checkpoint_dir={model_dir}", "--num_train_steps=2", "--eval_timeout=5",
                                       "--eval_wait_interval=0"]), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(eval_dir, "metrics.json")) as stream:
        record = json.load(stream)
    assert record["step"] == 2
    assert "DetectionBoxes_Precision/mAP@.50IOU" in record["metrics"]
    assert "PascalBoxes_Precision/mAP@0.5IOU" in record["metrics"]


def test_mixed_float16_trains_and_restores_policy(tmp_path):
    pipeline = fixtures.write_pipeline(str(tmp_path))
    result = model_lib.train_loop(pipeline, str(tmp_path / "model"), train_steps=2, precision="mixed_float16")
    assert result["precision"] == "mixed_float16"
    assert np.isfinite(result["losses"]["Loss/total_loss"])
    assert tf_keras.mixed_precision.global_policy().name == "float32"
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "model")))
    dtypes = reader.get_variable_to_dtype_map()
    assert all(dtypes[name] == tf.float32 for name in dtypes if name.startswith("model/") and "kernel" in name)
    # resuming in float32 (e.g. on a machine without GPU): model and step restored, optimizer state afresh
    resumed = model_lib.train_loop(pipeline, str(tmp_path / "model"), train_steps=3, precision="float32")
    assert resumed["resumed_from"].endswith("ckpt-2") and resumed["step"] == 3
