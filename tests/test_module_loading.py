"""import_without_package_init: a module loaded without its package's __init__, sys.modules left as it was."""
import sys
import textwrap

import pytest

from tests.commands import run_python
from tfsynth.utils.module_loading import import_without_package_init


@pytest.fixture
def heavy_package(tmp_path, monkeypatch):
    """A package `heavy` whose __init__ records that it ran; `heavy.parts.light` imports its sibling `base`."""
    root = tmp_path / "heavy"
    (root / "parts").mkdir(parents=True)
    (root / "__init__.py").write_text("import builtins\nbuiltins.heavy_init_runs = "
                                      "getattr(builtins, 'heavy_init_runs', 0) + 1\n")
    (root / "parts" / "__init__.py").write_text("")
    (root / "parts" / "base.py").write_text("class Base:\n    pass\n")
    (root / "parts" / "light.py").write_text(textwrap.dedent("""\
        from heavy.parts import base
        class Light(base.Base):
            pass
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import builtins
    monkeypatch.setattr(builtins, "heavy_init_runs", 0, raising=False)
    yield builtins
    for name in [n for n in sys.modules if n == "heavy" or n.startswith("heavy.")]:
        del sys.modules[name]


def test_the_module_loads_without_its_package_init_and_leaves_no_trace(heavy_package):
    light = import_without_package_init("heavy.parts.light", "heavy")
    assert issubclass(light.Light, light.base.Base)
    assert heavy_package.heavy_init_runs == 0
    assert not [name for name in sys.modules if name == "heavy" or name.startswith("heavy.")]


def test_a_later_import_of_the_package_runs_its_init(heavy_package):
    import_without_package_init("heavy.parts.light", "heavy")
    import heavy.parts.light
    assert heavy_package.heavy_init_runs == 1
    assert heavy.parts.light.Light.__module__ == "heavy.parts.light"


def test_an_imported_package_gives_the_usual_module(heavy_package):
    import heavy.parts.light
    assert import_without_package_init("heavy.parts.light", "heavy") is heavy.parts.light
    assert heavy_package.heavy_init_runs == 1


def test_names_outside_the_package_or_not_a_package_are_refused(heavy_package):
    with pytest.raises(ValueError, match="not inside the package 'heavy'"):
        import_without_package_init("other.light", "heavy")
    with pytest.raises(ImportError, match="'heavy.parts.base' is not an installed package"):
        import_without_package_init("heavy.parts.base.x", "heavy.parts.base")


def test_the_input_pipeline_loads_tf_models_decoder_without_official_vision_init():
    # A fresh process: the test process may have imported official.vision already.
    result = run_python(textwrap.dedent("""\
        import sys
        from tfsynth.builders import dataset_builder
        print(sorted(n for n in sys.modules if n.startswith('official.vision')))
        print(dataset_builder.ExampleDecoder.__mro__[1].__module__)
        import official.vision
        print('official.vision.tasks' in sys.modules, hasattr(official.vision, 'configs'))
        """), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded, decoder_module, whole = result.stdout.splitlines()
    assert loaded == "[]"
    assert decoder_module == "official.vision.dataloaders.tf_example_decoder"
    assert whole == "True True"
