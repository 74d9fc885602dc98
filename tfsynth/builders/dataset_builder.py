"""InputReader proto -> tf.data.Dataset of decoded tf.train.Example dicts (the OD API's dataset_builder and
TfExampleDecoder).

Two sources of files: tf_record_input_reader (the OD API's: input_path globs of shards in the OD API's layout,
ExampleDecoder) and tfds_input_reader (tfsynth's: a split of a TensorFlow Datasets dataset prepared by `tfds build`,
its own TFRecord files, TfdsExampleDecoder). Both decode to the same tensor dict and are read alike.

Reading follows the OD API: every tf_record_input_reader.input_path glob is expanded, file names are shuffled
(filenames_shuffle_buffer_size) and repeated (num_epochs, 0 = forever), num_readers files are interleaved
(read_block_length records at a time), records are shuffled (shuffle_buffer_size), 1 of every
sample_1_of_n_examples is kept, then decoded and transformed in parallel (batch_size * num_parallel_batches calls),
batched and prefetched (num_prefetch_batches; -1 = AUTOTUNE). A RecordFilter (from tfsynth.data.record_checks, in
skip mode) leaves out the records that the input check skipped.

With a `seed` (training, see model_lib.train_loop) the pipeline is reproducible and resumable: both shuffles are
seeded, parallel reads and maps keep their order, and each record is numbered in the order it leaves the shuffle
so that the transform can key stateless augmentation on (seed, number). Saved with its iterator in a checkpoint,
it then continues exactly where an uninterrupted run would be.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Optional

import tensorflow as tf

from tfsynth.builders import pipeline_fields
from tfsynth.core.standard_fields import InputDataFields as fields
from tfsynth.core.standard_fields import TfExampleFields as keys
from tfsynth.utils.module_loading import import_without_package_init

# tf-models-official's decoder; official.vision's own __init__ (every vision task and config, ~0.8 s) is not needed.
tf_example_decoder = import_without_package_init("official.vision.dataloaders.tf_example_decoder", "official.vision")

if TYPE_CHECKING:  # only its attributes are read here; the module itself loads the label map reader
    from tfsynth.data.record_checks import RecordFilter

# TFRecordDataset read buffer per file (the OD API's value).
_READ_BUFFER_BYTES = 8 * 1000 * 1000


def _pixel_area(boxes: tf.Tensor, image_shape: tf.Tensor) -> tf.Tensor:
    """The area in pixels of each normalized box [N, 4] of an image of shape image_shape ([H, W, C])."""
    height, width = tf.cast(image_shape[0], tf.float32), tf.cast(image_shape[1], tf.float32)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * height * width


class ExampleDecoder(tf_example_decoder.TfExampleDecoder):
    """Decodes one serialized tf.train.Example in the OD API's layout into an InputDataFields tensor dict.

    Built on tf-models-official's TfExampleDecoder (image, boxes), extended with the OD API's other fields.
    Classes: when a label map is given and the record has image/object/class/text, the text is mapped through
    the label map (unknown names become -1 and are dropped later), as the OD API does; otherwise
    image/object/class/label is used.
    """

    def __init__(self, label_map_path: str = "", use_display_name: bool = False):
        super().__init__(regenerate_source_id=True)
        self._keys_to_features.update({
            keys.source_id: tf.io.FixedLenFeature((), tf.string, default_value=""),
            keys.key: tf.io.FixedLenFeature((), tf.string, default_value=""),
            keys.filename: tf.io.FixedLenFeature((), tf.string, default_value=""),
            keys.object_class_text: tf.io.VarLenFeature(tf.string),
            keys.object_difficult: tf.io.VarLenFeature(tf.int64),
            keys.object_group_of: tf.io.VarLenFeature(tf.int64),
            keys.object_weight: tf.io.VarLenFeature(tf.float32),
        })
        self._class_table = None
        if label_map_path:
            from tfsynth.utils import label_map_util  # imported here: only readers with a label map need it
            name_to_id = label_map_util.get_label_map_dict(label_map_path, use_display_name=use_display_name)
            self._class_table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(list(name_to_id.keys()),
                                                    [int(v) for v in name_to_id.values()],
                                                    key_dtype=tf.string, value_dtype=tf.int64),
                default_value=-1)

    def decode(self, serialized_example: tf.Tensor) -> dict[str, tf.Tensor]:
        """Serialized Example -> dict of InputDataFields (image uint8 [H, W, 3], normalized boxes [N, 4], ...)."""
        parsed = tf.io.parse_single_example(serialized_example, self._keys_to_features)
        for name, value in parsed.items():
            if isinstance(value, tf.SparseTensor):
                parsed[name] = tf.sparse.to_dense(value, default_value="" if value.dtype == tf.string else 0)
        image = self._decode_image(parsed)
        boxes = self._decode_boxes(parsed)
        num_boxes = tf.shape(boxes)[0]
        labels = parsed[keys.object_class_label]
        if self._class_table is not None:
            texts = parsed[keys.object_class_text]
            classes = tf.cond(tf.size(texts) > 0, lambda: self._class_table.lookup(texts), lambda: labels)
        else:
            classes = labels
        check = tf.debugging.assert_equal(
            tf.shape(classes)[0], num_boxes,
            message="tf.train.Example: image/object/class/label (or class/text) and image/object/bbox/* "
                    "have different lengths")
        with tf.control_dependencies([check]):
            classes = tf.identity(classes)
        image_shape = tf.shape(image)
        box_area = _pixel_area(boxes, image_shape)

        def per_box(values, default):
            # An absent per-object field reads as `default` for every box.
            return tf.cond(tf.equal(tf.size(values), num_boxes), lambda: values, lambda: default)

        return {
            fields.image: image,
            fields.source_id: parsed[keys.source_id],
            fields.key: parsed[keys.key],
            fields.filename: parsed[keys.filename],
            fields.original_image_spatial_shape: image_shape[:2],
            fields.groundtruth_boxes: boxes,
            fields.groundtruth_classes: tf.cast(classes, tf.int32),
            fields.groundtruth_area: per_box(parsed[keys.object_area], box_area),
            fields.groundtruth_is_crowd: tf.cast(
                per_box(parsed[keys.object_is_crowd], tf.zeros([num_boxes], tf.int64)), tf.bool),
            fields.groundtruth_difficult: per_box(parsed[keys.object_difficult], tf.zeros([num_boxes], tf.int64)),
            fields.groundtruth_group_of: tf.cast(
                per_box(parsed[keys.object_group_of], tf.zeros([num_boxes], tf.int64)), tf.bool),
            fields.groundtruth_weights: per_box(parsed[keys.object_weight], tf.ones([num_boxes], tf.float32)),
        }


def expand_input_paths(input_reader_config, config_name: str = "input_reader") -> list[str]:
    """All files named by tf_record_input_reader.input_path (globs allowed), in a stable order.

    Raises ValueError naming the field when no path is set or a pattern matches no file.
    """
    field = f"{config_name}.tf_record_input_reader.input_path"
    if input_reader_config.WhichOneof("input_reader") != "tf_record_input_reader":
        raise ValueError(f"{config_name}: expected tf_record_input_reader {{ input_path: ... }} or "
                         "tfds_input_reader { name: ... }")
    patterns = list(input_reader_config.tf_record_input_reader.input_path)
    if not patterns:
        raise ValueError(f"{field}: at least one input path must be set")
    filenames: list[str] = []
    for pattern in patterns:
        matches = sorted(tf.io.gfile.glob(pattern))
        if not matches:
            raise ValueError(f"{field}: pattern {pattern!r} matches no file")
        filenames.extend(m for m in matches if m not in filenames)
    return filenames


# ---------------------------------------------------------------- tfds_input_reader


def _import_tfds():
    """tensorflow_datasets, imported only when a tfds_input_reader is read (it is an optional extra)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError(f"tfds_input_reader needs tensorflow-datasets ({error}); install tfsynth's tfds extra: "
                          "pip install -e '.[tfds]'") from None
    return tfds


def _build_command(name: str, data_dir: str) -> str:
    """The `tfds build` command that prepares `name` ("dataset/config[:version]") with tfsynth's builders in
    data_dir (TFDS's default when empty)."""
    dataset, _, config = name.split(":")[0].partition("/")
    return (f"tfds build {dataset}" + (f" --config {config}" if config else "") + " --imports tfsynth.datasets"
            + (f" --data_dir {data_dir}" if data_dir else ""))


def tfds_builder(input_reader_config, config_name: str = "input_reader"):
    """The tfds.core.DatasetBuilder of the prepared dataset a tfds_input_reader names.

    TFDS reads the features and splits from the prepared dataset's own files, so tfsynth's builder classes need
    not be registered (tfsynth.datasets sits in the commands layer, above builders, and loads the generator).
    Raises ValueError naming
    `config_name.tfds_input_reader.name` when the name is unset or no prepared dataset of that name is in data_dir.
    """
    reader = input_reader_config.tfds_input_reader
    field = f"{config_name}.tfds_input_reader"
    if not reader.name:
        raise ValueError(f"{field}.name: not set; expected a prepared TFDS dataset such as "
                         "\"tfsynth_renders/quick\"")
    tfds = _import_tfds()
    where = (f"{field}.data_dir {reader.data_dir!r}" if reader.data_dir
             else f"TFDS's default data_dir ({field}.data_dir unset: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    builder, reason = None, ""
    try:
        builder = tfds.builder(reader.name, data_dir=reader.data_dir or None)
    except tfds.core.DatasetNotFoundError:
        pass  # neither prepared there nor a registered builder
    except (ValueError, AssertionError) as error:  # a registered builder without that config or version
        reason = f" ({str(error).splitlines()[0]})"
    if builder is None or not builder.is_prepared():
        raise ValueError(f"{field}.name: no prepared dataset {reader.name!r} in {where}{reason}; expected one built "
                         f"by `{_build_command(reader.name, reader.data_dir)}`")
    return builder


def tfds_split(input_reader_config, config_name: str = "input_reader") -> tuple[object, list[str]]:
    """(builder, the TFRecord files of tfds_input_reader.split) of a tfds_input_reader; ValueError naming
    `.split` when the prepared dataset has no such split, `.name` when its files are not TFRecord."""
    reader = input_reader_config.tfds_input_reader
    field = f"{config_name}.tfds_input_reader"
    builder = tfds_builder(input_reader_config, config_name)
    splits = builder.info.splits
    if reader.split not in list(splits.keys()):
        raise ValueError(f"{field}.split: {reader.split!r} is not a split of {reader.name} in {builder.data_dir}; "
                         f"expected one of {sorted(splits.keys())}")
    file_format = builder.info.file_format
    if getattr(file_format, "value", file_format) != "tfrecord":
        raise ValueError(f"{field}.name: {reader.name} in {builder.data_dir} is stored as {file_format}; expected "
                         "TFRecord files (`tfds build` without --file_format)")
    return builder, [os.fspath(path) for path in splits[reader.split].filepaths]


def input_files(input_reader_config, config_name: str = "input_reader") -> list[str]:
    """The record files an input reader reads: its input_path globs expanded, or its TFDS split's files."""
    if input_reader_config.WhichOneof("input_reader") == "tfds_input_reader":
        return tfds_split(input_reader_config, config_name)[1]
    return expand_input_paths(input_reader_config, config_name)


# Classes named in the error about classes missing from a label map (a catalog has hundreds).
_CLASSES_NAMED = 5
# The features TfdsExampleDecoder reads (tfsynth.datasets.features.object_features), and those of each object.
_TFDS_FEATURES = ("image", "image/filename", "objects")
_TFDS_OBJECT_FEATURES = ("bbox", "label", "difficult")


def _check_tfds_layout(features, input_reader_config, config_name: str) -> None:
    """ValueError naming tfds_input_reader.name when the dataset lacks a feature of tfsynth's layout."""
    missing = [key for key in _TFDS_FEATURES if key not in features]
    if not missing:
        missing = [f"objects/{key}" for key in _TFDS_OBJECT_FEATURES if key not in features["objects"]]
    if missing:
        raise ValueError(f"{config_name}.tfds_input_reader.name: {input_reader_config.tfds_input_reader.name} has no "
                         f"feature {', '.join(missing)}; expected tfsynth's layout: image, image/filename and objects "
                         "{bbox, label, difficult} (tfsynth.datasets)")


def tfds_class_ids(features, input_reader_config, config_name: str = "input_reader") -> list[int]:
    """The label map id of each class of a TFDS dataset in tfsynth's layout, in ClassLabel order (label k ->
    ids[k]).

    Classes are matched by name (display_name with use_display_name), so a dataset's class order need not follow
    the label map's ids. ValueError naming the label map field when it is unset, and naming the class, the dataset
    and the label map when a class of the dataset is not in it (never a silent -1: every image of such a class
    would train as background).
    """
    from tfsynth.utils import label_map_util  # imported here: only readers with a label map need it
    name = input_reader_config.tfds_input_reader.name
    label_map_path = input_reader_config.label_map_path
    _check_tfds_layout(features, input_reader_config, config_name)
    if not label_map_path:
        raise ValueError(f"{config_name}.label_map_path: not set; a tfds_input_reader maps the class names of {name} "
                         "to ids through the label map")
    try:
        name_to_id = label_map_util.get_label_map_dict(label_map_path,
                                                       use_display_name=input_reader_config.use_display_name)
    except (OSError, ValueError) as error:
        raise ValueError(f"{config_name}.label_map_path: {error}") from None
    class_names = list(features["objects"]["label"].names)
    missing = [class_name for class_name in class_names if class_name not in name_to_id]
    if missing:
        shown = ", ".join(map(repr, missing[:_CLASSES_NAMED])) + (", ..." if len(missing) > _CLASSES_NAMED else "")
        raise ValueError(f"{config_name}.label_map_path: {len(missing)} of the {len(class_names)} classes of dataset "
                         f"{name} {'is' if len(missing) == 1 else 'are'} not in the label map {label_map_path}: "
                         f"{shown}; expected every class of the dataset in it")
    return [int(name_to_id[class_name]) for class_name in class_names]


class TfdsExampleDecoder:
    """Decodes one serialized example of a TFDS dataset in tfsynth's layout (tfsynth.datasets.features: image,
    image/filename, objects {bbox, label, difficult}) into the tensor dict ExampleDecoder.decode returns.

    The dataset's own features decode it (FeaturesDict.deserialize_example). Its image file name stands for
    source_id and key too (the dataset holds neither). Area is the box's pixel area (the dataset holds none;
    generate's OD API records hold the visible pixel count): only COCO's small/medium/large split reads it.
    """

    def __init__(self, features, class_ids: list[int]):
        self._features = features
        self._class_ids = tf.constant(class_ids, tf.int32)

    def decode(self, serialized_example: tf.Tensor) -> dict[str, tf.Tensor]:
        """Serialized TFDS example -> dict of InputDataFields (image uint8 [H, W, 3], normalized boxes [N, 4], ...)."""
        example = self._features.deserialize_example(serialized_example)
        objects = example["objects"]
        image = example["image"]
        image_shape = tf.shape(image)
        boxes = tf.reshape(tf.cast(objects["bbox"], tf.float32), [-1, 4])
        num_boxes = tf.shape(boxes)[0]
        filename = example["image/filename"]
        return {
            fields.image: image,
            fields.source_id: filename,
            fields.key: filename,
            fields.filename: filename,
            fields.original_image_spatial_shape: image_shape[:2],
            fields.groundtruth_boxes: boxes,
            fields.groundtruth_classes: tf.gather(self._class_ids, objects["label"]),
            fields.groundtruth_area: _pixel_area(boxes, image_shape),
            fields.groundtruth_is_crowd: tf.zeros([num_boxes], tf.bool),
            fields.groundtruth_difficult: tf.cast(objects["difficult"], tf.int64),
            fields.groundtruth_group_of: tf.zeros([num_boxes], tf.bool),
            fields.groundtruth_weights: tf.ones([num_boxes], tf.float32),
        }


def _files_and_decoder(input_reader_config, config_name: str = "input_reader") -> tuple[list[str], object]:
    """The reader's record files and their decoder: for a tfds_input_reader its split's files and a
    TfdsExampleDecoder (classes checked against the label map now), the dataset's metadata read once; otherwise
    the input_path globs expanded and an ExampleDecoder."""
    config = input_reader_config
    if config.WhichOneof("input_reader") == "tfds_input_reader":
        builder, filenames = tfds_split(config, config_name)
        features = builder.info.features
        return filenames, TfdsExampleDecoder(features, tfds_class_ids(features, config, config_name))
    decoder = ExampleDecoder(config.label_map_path, use_display_name=config.use_display_name)
    return expand_input_paths(config, config_name), decoder


def _file_reader(record_filter: Optional[RecordFilter]) -> Callable[[tf.Tensor], tf.data.Dataset]:
    """fn(filename) -> its records, less those record_filter leaves out (files cut short are read up to their
    limit, skipped records are dropped by index)."""
    def read_all(filename):
        return tf.data.TFRecordDataset(filename, buffer_size=_READ_BUFFER_BYTES)

    if record_filter is None:
        return read_all
    # Hash tables, not Python sets: the file name is a tensor inside interleave.
    limits = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(list(record_filter.limits) or [""], tf.string),
        tf.constant(list(record_filter.limits.values()) or [-1], tf.int64)), default_value=-1)
    skipped_keys = [f"{path}\0{index}" for path, indices in record_filter.skipped.items() for index in indices]
    skipped = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(skipped_keys or [""], tf.string), tf.ones([max(1, len(skipped_keys))], tf.int64)),
        default_value=0)

    def read_filtered(filename):
        records = read_all(filename).take(limits.lookup(filename))  # take(-1): every record
        if not skipped_keys:
            return records

        def keep(index, _):
            key = tf.strings.join([filename, tf.strings.as_string(index)], separator="\0")
            return tf.equal(skipped.lookup(key), 0)
        return records.enumerate().filter(keep).map(lambda _, record: record)
    return read_filtered


def _deterministic(config, seed: Optional[int]) -> bool:
    """Parallel reads and maps keep their order when the input is unshuffled or the run is seeded (a
    reproducible order); otherwise the first ready element goes first (faster, as in the OD API)."""
    return not config.shuffle or seed is not None


def read_dataset(input_reader_config, config_name: str = "input_reader",
                 record_filter: Optional[RecordFilter] = None, seed: Optional[int] = None,
                 filenames: Optional[list[str]] = None) -> tf.data.Dataset:
    """Serialized records from the configured files (filenames when the caller has them already, else
    input_files): shuffled, repeated, interleaved and sampled as configured, less what record_filter leaves out.
    seed: the shuffles are seeded by it (and reads keep their order)."""
    config = input_reader_config
    if filenames is None:
        filenames = input_files(config, config_name)
    num_readers = max(1, min(config.num_readers, len(filenames)))
    dataset = tf.data.Dataset.from_tensor_slices(filenames)
    if config.shuffle:
        dataset = dataset.shuffle(max(1, config.filenames_shuffle_buffer_size), seed=seed)
    dataset = dataset.repeat(config.num_epochs or None)
    dataset = dataset.interleave(
        _file_reader(record_filter), cycle_length=num_readers, block_length=max(1, config.read_block_length),
        **({"num_parallel_calls": num_readers, "deterministic": _deterministic(config, seed)}
           if num_readers > 1 else {}))
    if config.shuffle:
        # A seed of its own: the file shuffle's would repeat the same permutation pattern.
        dataset = dataset.shuffle(max(1, config.shuffle_buffer_size), seed=None if seed is None else seed + 1)
    if config.sample_1_of_n_examples > 1:
        dataset = dataset.shard(config.sample_1_of_n_examples, 0)
    return dataset


def _without_autograph(function: Callable) -> Callable:
    """`function`, traced as written: Python control flow on a tensor then fails at tracing, where AutoGraph would
    have turned it into graph control flow."""
    return tf.autograph.experimental.do_not_convert(function)


def build(input_reader_config, transform_input_data_fn: Optional[Callable] = None,
          batch_size: Optional[int] = None, drop_remainder: bool = False,
          config_name: str = "input_reader", record_filter: Optional[RecordFilter] = None,
          seed: Optional[int] = None) -> tf.data.Dataset:
    """InputReader proto -> dataset of decoded (and transformed, batched, prefetched) examples.

    transform_input_data_fn maps one decoded dict to whatever the caller wants (e.g. (features, labels));
    record_filter leaves out what an input check skipped. With a seed (see the module docstring) the transform
    is called as fn(decoded dict, element_seed), element_seed an int64 [2] tensor (seed, record number) unique to
    the record's place in the stream, for stateless random ops.
    Raises UnsupportedConfigError naming a field of the reader that tfsynth ignores and that would change the
    data (builders/pipeline_fields.py).
    """
    config = input_reader_config
    pipeline_fields.check_input_reader(config, config_name, drop_remainder=drop_remainder if batch_size else None)
    filenames, decoder = _files_and_decoder(config, config_name)
    num_parallel_calls = (batch_size * config.num_parallel_batches if batch_size else tf.data.AUTOTUNE)
    deterministic = _deterministic(config, seed)
    dataset = read_dataset(config, config_name, record_filter, seed, filenames)
    # The map functions are TensorFlow ops throughout (tf.cond, tf.while_loop where they branch), so AutoGraph's
    # rewrite of every Python function they call would change nothing but the start-up: it was most of the
    # seconds spent tracing them.
    if seed is None or transform_input_data_fn is None:
        dataset = dataset.map(_without_autograph(decoder.decode), num_parallel_calls=num_parallel_calls,
                              deterministic=deterministic)
    else:
        dataset = dataset.enumerate().map(
            _without_autograph(lambda number, record: (decoder.decode(record),
                                                       tf.stack([tf.constant(seed, tf.int64), number]))),
            num_parallel_calls=num_parallel_calls, deterministic=deterministic)
    if transform_input_data_fn is not None:
        dataset = dataset.map(_without_autograph(transform_input_data_fn), num_parallel_calls=num_parallel_calls,
                              deterministic=deterministic)
    if batch_size:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    prefetch = config.num_prefetch_batches
    return dataset.prefetch(tf.data.AUTOTUNE if prefetch < 0 else prefetch)
