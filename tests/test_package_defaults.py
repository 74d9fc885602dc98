"""tfsynth/__init__.py: TensorFlow's tf.keras is the tf_keras of tfsynth's models, unless the user chose otherwise."""
import os
import sys

from tests.commands import run_command

_KERAS_IN_USE = """
import sys
import tfsynth
import tensorflow as tf
print(tf.keras.__name__.split(".")[0], "keras" in sys.modules)
"""


def _run(env_value):
    env = {key: value for key, value in os.environ.items() if key != "TF_USE_LEGACY_KERAS"}
    if env_value is not None:
        env["TF_USE_LEGACY_KERAS"] = env_value
    result = run_command([sys.executable, "-c", _KERAS_IN_USE], env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()[-2:]


def test_tf_keras_is_tf_keras_and_keras_3_is_not_loaded():
    assert _run(None) == ["tf_keras", "False"]


def test_a_users_choice_is_kept():
    assert _run("0") == ["keras", "True"]
