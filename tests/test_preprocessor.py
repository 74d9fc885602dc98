"""core/preprocessor ops and preprocessor_builder on a small image whose boxes are painted in unique colours:
after every geometric op each kept box must still sit on its own colour, boxes stay in [0, 1], and per-box
fields follow their boxes."""
import glob

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from tfsynth.builders import preprocessor_builder
from tfsynth.core import preprocessor
from tfsynth.protos import pipeline_pb2, preprocessor_pb2
from tfsynth.utils.shared_data import SHARED_DATA

HEIGHT, WIDTH = 48, 64
BOXES = np.array([[0.125, 0.125, 0.5, 0.375],     # red, class 1
                  [0.5, 0.5, 0.875, 0.9375]],     # blue, class 2
                 np.float32)
COLORS = {1: (255.0, 0.0, 0.0), 2: (0.0, 0.0, 255.0)}


def _scene():
    image = np.full((HEIGHT, WIDTH, 3), 128.0, np.float32)
    for box, label in zip(BOXES, (1, 2)):
        y0, x0, y1, x1 = (int(v * s) for v, s in zip(box, (HEIGHT, WIDTH, HEIGHT, WIDTH)))
        image[y0:y1, x0:x1] = COLORS[label]
    fields = {"groundtruth_classes": tf.constant([1, 2]), "groundtruth_weights": tf.constant([1.0, 0.5])}
    return tf.constant(image), tf.constant(BOXES), fields


def _check_boxes_on_their_colour(image, boxes, fields):
    image, boxes = image.numpy(), boxes.numpy()
    classes = fields["groundtruth_classes"].numpy()
    weights = fields["groundtruth_weights"].numpy()
    assert len(classes) == len(boxes) == len(weights)
    assert boxes.size == 0 or (boxes.min() >= 0.0 and boxes.max() <= 1.0)
    height, width = image.shape[:2]
    for box, label, weight in zip(boxes, classes, weights):
        assert weight == {1: 1.0, 2: 0.5}[label]  # weights followed their boxes
        y = int((box[0] + box[2]) / 2 * height)
        x = int((box[1] + box[3]) / 2 * width)
        y, x = min(y, height - 1), min(x, width - 1)
        np.testing.assert_allclose(image[y, x], COLORS[label], atol=40,
                                   err_msg=f"class {label} box {box} not on its colour")


GEOMETRIC = [
    (preprocessor.random_horizontal_flip, {"probability": 1.0}),
    (preprocessor.random_vertical_flip, {"probability": 1.0}),
    (preprocessor.random_rotation90, {"probability": 1.0}),
    (preprocessor.random_crop_image, {"min_object_covered": 0.5, "overlap_thresh": 0.5}),
    (preprocessor.random_crop_image, {"min_object_covered": 0.0, "overlap_thresh": 0.0, "area_range": (0.1, 0.3)}),
    (preprocessor.ssd_random_crop, {}),
    (preprocessor.ssd_random_crop_pad, {}),
    (preprocessor.ssd_random_crop_fixed_aspect_ratio, {}),
    (preprocessor.random_crop_pad_image, {}),
    (preprocessor.random_crop_to_aspect_ratio, {"aspect_ratio": 1.0}),
    (preprocessor.random_pad_image, {}),
    (preprocessor.random_pad_image, {"pad_color": (0.0, 255.0, 0.0)}),
    (preprocessor.random_absolute_pad_image, {"max_height_padding": 20, "max_width_padding": 30}),
    (preprocessor.random_image_scale, {}),
    (preprocessor.random_square_crop_by_scale, {"max_border": 8}),
    (preprocessor.random_scale_crop_and_pad_to_square, {"output_size": 40}),
    (preprocessor.resize_image, {"new_height": 20, "new_width": 30}),
    (preprocessor.random_resize_method, {"target_size": (24, 24)}),
]


@pytest.mark.parametrize("op, kwargs", GEOMETRIC, ids=[f"{op.__name__}-{i}" for i, (op, _) in enumerate(GEOMETRIC)])
def test_geometric_op_keeps_boxes_on_content(op, kwargs):
    tf.random.set_seed(3)
    for _ in range(6):
        image, boxes, fields = op(*_scene(), **kwargs)
        assert image.shape.rank == 3 and image.shape[-1] == 3
        _check_boxes_on_their_colour(image, boxes, fields)


def test_horizontal_flip_moves_boxes():
    image, boxes, fields = preprocessor.random_horizontal_flip(*_scene(), probability=1.0)
    np.testing.assert_allclose(boxes[0], [0.125, 0.625, 0.5, 0.875])
    np.testing.assert_allclose(image.numpy()[:, ::-1], _scene()[0].numpy())
    _, unflipped, _ = preprocessor.random_horizontal_flip(*_scene(), probability=0.0)
    np.testing.assert_allclose(unflipped, BOXES)


def test_vertical_flip_and_rotation_move_boxes():
    _, boxes, _ = preprocessor.random_vertical_flip(*_scene(), probability=1.0)
    np.testing.assert_allclose(boxes[0], [0.5, 0.125, 0.875, 0.375])
    image, boxes, _ = preprocessor.random_rotation90(*_scene(), probability=1.0)
    assert image.shape == (WIDTH, HEIGHT, 3)
    np.testing.assert_allclose(boxes[0], [0.625, 0.125, 0.875, 0.5])


def test_crop_drops_boxes_below_overlap():
    # A crop window that cannot contain much of the blue box: keep only what overlaps enough.
    tf.random.set_seed(0)
    dropped = 0
    for _ in range(10):
        _, boxes, fields = preprocessor.random_crop_image(
            *_scene(), min_object_covered=1.0, area_range=(0.05, 0.2), overlap_thresh=1.0)
        dropped += 2 - len(boxes)
        # overlap_thresh 1.0: every kept box lies wholly inside the crop, so clipping never changed its shape.
        for box, label in zip(boxes.numpy(), fields["groundtruth_classes"].numpy()):
            assert box.min() >= 0.0 and box.max() <= 1.0
    assert dropped > 0


def test_random_coef_one_keeps_input():
    image, boxes, fields = preprocessor.random_crop_image(*_scene(), random_coef=1.0)
    np.testing.assert_array_equal(image.numpy(), _scene()[0].numpy())
    np.testing.assert_array_equal(boxes.numpy(), BOXES)


def test_scale_crop_and_pad_output_size():
    tf.random.set_seed(1)
    for _ in range(5):
        image, boxes, _ = preprocessor.random_scale_crop_and_pad_to_square(*_scene(), output_size=40)
        assert image.shape == (40, 40, 3)


def test_empty_boxes_survive_every_geometric_op():
    image = _scene()[0]
    empty = {"groundtruth_classes": tf.zeros([0], tf.int32), "groundtruth_weights": tf.zeros([0])}
    for op, kwargs in GEOMETRIC:
        _, boxes, fields = op(image, tf.zeros([0, 4]), empty, **kwargs)
        assert boxes.shape[0] == 0 and fields["groundtruth_classes"].shape[0] == 0


COLOR_OPS = [
    (preprocessor.random_adjust_brightness, {}),
    (preprocessor.random_adjust_contrast, {}),
    (preprocessor.random_adjust_hue, {}),
    (preprocessor.random_adjust_saturation, {}),
    (preprocessor.random_distort_color, {"color_ordering": 0}),
    (preprocessor.random_distort_color, {"color_ordering": 1}),
    (preprocessor.random_rgb_to_gray, {"probability": 1.0}),
    (preprocessor.random_pixel_value_scale, {}),
    (preprocessor.random_black_patches, {"probability": 1.0, "size_to_image_ratio": 0.2}),
    (preprocessor.random_jpeg_quality, {"min_jpeg_quality": 5, "max_jpeg_quality": 10}),
    (preprocessor.random_patch_gaussian, {"min_patch_size": 10, "max_patch_size": 20,
                                          "min_gaussian_stddev": 0.2, "max_gaussian_stddev": 0.5}),
]


@pytest.mark.parametrize("op, kwargs", COLOR_OPS, ids=[f"{op.__name__}-{i}" for i, (op, _) in enumerate(COLOR_OPS)])
def test_colour_op_changes_pixels_in_range(op, kwargs):
    tf.random.set_seed(5)
    original = _scene()[0]
    changed = False
    for _ in range(4):
        image = op(original, **kwargs)
        assert image.shape == original.shape
        assert image.numpy().min() >= 0.0 and image.numpy().max() <= 255.0
        changed |= not np.allclose(image.numpy(), original.numpy())
    assert changed


def test_rgb_to_gray_makes_channels_equal():
    image = preprocessor.random_rgb_to_gray(_scene()[0], probability=1.0).numpy()
    np.testing.assert_allclose(image[..., 0], image[..., 2], atol=1e-3)


def test_black_patches_are_black():
    image = preprocessor.random_black_patches(_scene()[0], max_black_patches=3, probability=1.0,
                                              size_to_image_ratio=0.25).numpy()
    assert (image.sum(axis=-1) == 0).sum() >= 12 * 12


def test_normalize_image():
    image = preprocessor.normalize_image(tf.constant([[[0.0, 127.5, 255.0]]]), 0.0, 255.0, -1.0, 1.0)
    np.testing.assert_allclose(image.numpy(), [[[-1.0, 0.0, 1.0]]])


def test_preprocess_filters_every_per_box_field():
    image, boxes, _ = _scene()
    tensor_dict = {
        "image": tf.expand_dims(image, 0), "groundtruth_boxes": boxes,
        "groundtruth_classes": tf.constant([1, 2]), "groundtruth_weights": tf.constant([1.0, 0.5]),
        "groundtruth_area": tf.constant([10.0, 20.0]), "groundtruth_difficult": tf.constant([0, 1]),
        "source_id": tf.constant("x"),
    }
    crop = (preprocessor.random_crop_image, {"min_object_covered": 1.0, "area_range": (0.05, 0.15),
                                             "overlap_thresh": 1.0})
    tf.random.set_seed(2)
    for _ in range(5):
        out = preprocessor.preprocess(tensor_dict, [crop, (preprocessor.random_adjust_hue, {})])
        assert out["image"].shape.rank == 4 and out["source_id"] is tensor_dict["source_id"]
        n = out["groundtruth_boxes"].shape[0]
        for key in ("groundtruth_classes", "groundtruth_weights", "groundtruth_area", "groundtruth_difficult"):
            assert out[key].shape[0] == n
        for label, area in zip(out["groundtruth_classes"].numpy(), out["groundtruth_area"].numpy()):
            assert area == {1: 10.0, 2: 20.0}[label]


def _step(text):
    return text_format.Parse(text, preprocessor_pb2.PreprocessingStep())


def test_builder_builds_every_sample_config_option():
    names = set()
    for path in sorted(glob.glob(str(SHARED_DATA / "odapi_reference" / "configs_tf*" / "*.config"))):
        config = text_format.Parse(open(path).read(), pipeline_pb2.TrainEvalPipelineConfig())
        for step in config.train_config.data_augmentation_options:
            op, kwargs = preprocessor_builder.build(step)
            names.add(step.WhichOneof("preprocessing_step"))
            image, boxes, fields = _scene()
            if op in preprocessor._IMAGE_ONLY_OPS:
                assert op(image, **kwargs).shape == image.shape
            else:
                _check_boxes_on_their_colour(*op(image, boxes, fields, **kwargs))
    assert {"random_horizontal_flip", "ssd_random_crop", "random_crop_image", "random_adjust_hue",
            "random_square_crop_by_scale", "random_scale_crop_and_pad_to_square",
            "random_absolute_pad_image"} <= names


def test_builder_kwargs_follow_proto():
    op, kwargs = preprocessor_builder.build(_step("""random_crop_image { min_object_covered: 0.0
        min_aspect_ratio: 0.75 max_aspect_ratio: 3.0 min_area: 0.75 max_area: 1.0 overlap_thresh: 0.0 }"""))
    assert op is preprocessor.random_crop_image
    assert kwargs["aspect_ratio_range"] == pytest.approx((0.75, 3.0))
    assert kwargs["area_range"] == pytest.approx((0.75, 1.0)) and kwargs["random_coef"] == 0.0
    op, kwargs = preprocessor_builder.build(_step("ssd_random_crop { }"))
    assert op is preprocessor.ssd_random_crop and kwargs == {}
    op, kwargs = preprocessor_builder.build(_step("""ssd_random_crop { operations { min_object_covered: 0.2
        min_aspect_ratio: 0.5 max_aspect_ratio: 2 min_area: 0.1 max_area: 1 overlap_thresh: 0.2 random_coef: 0.1 }
        operations { min_object_covered: 0.9 min_aspect_ratio: 1 max_aspect_ratio: 1 min_area: 0.5 max_area: 1
        overlap_thresh: 0.9 random_coef: 0.0 } }"""))
    assert kwargs["min_object_covered"] == pytest.approx((0.2, 0.9))
    assert kwargs["aspect_ratio_range"] == ((0.5, 2.0), (1.0, 1.0))
    op, kwargs = preprocessor_builder.build(_step("random_absolute_pad_image { max_height_padding: 200 "
                                                  "max_width_padding: 200 pad_color: [0, 0, 0] }"))
    assert kwargs == {"max_height_padding": 200, "max_width_padding": 200, "pad_color": (0.0, 0.0, 0.0)}
    op, kwargs = preprocessor_builder.build(_step("random_horizontal_flip { keypoint_flip_permutation: [1, 0] }"))
    assert kwargs == {"keypoint_flip_permutation": (1, 0), "probability": 0.5}


@pytest.mark.parametrize("text, name", [
    ("autoaugment_image { }", "autoaugment_image"),
    ("random_self_concat_image { }", "random_self_concat_image"),
    ("random_jitter_boxes { jitter_mode: EXPAND }", "EXPAND"),
])
def test_builder_unimplemented_option_names_it(text, name):
    with pytest.raises(NotImplementedError, match=name):
        preprocessor_builder.build(_step(text))


def test_stateless_seed_makes_preprocess_a_function_of_the_seed():
    """With a stateless seed the same seed gives the same augmented record (in any order, in parallel), other
    seeds give others: what lets a resumed input pipeline augment as an uninterrupted one."""
    image, boxes, fields = _scene()
    options = [(preprocessor.random_horizontal_flip, {}), (preprocessor.ssd_random_crop, {}),
               (preprocessor.random_adjust_brightness, {}), (preprocessor.random_patch_gaussian, {})]
    tensor_dict = {"image": image, "groundtruth_boxes": boxes, **fields}

    @tf.function
    def augment(seed):
        out = preprocessor.preprocess(tensor_dict, options, stateless_seed=seed)
        return out["image"], out["groundtruth_boxes"]

    seeds = [tf.constant([7, n], tf.int64) for n in range(12)]
    first = [augment(seed) for seed in seeds]
    again = [augment(seed) for seed in reversed(seeds)][::-1]
    for (image_a, boxes_a), (image_b, boxes_b) in zip(first, again):
        assert np.array_equal(image_a, image_b) and np.array_equal(boxes_a, boxes_b)
    assert len({np.asarray(b).tobytes() + np.asarray(i).tobytes() for i, b in first}) > 1
    # Parallel map, order not kept: each element still gets what its seed says.
    dataset = tf.data.Dataset.from_tensor_slices(tf.stack(seeds)).map(
        lambda seed: (seed, augment(seed)[1]), num_parallel_calls=4, deterministic=False)
    for seed, boxes_out in dataset:
        assert np.array_equal(boxes_out, first[int(seed[1])][1])


@pytest.mark.parametrize("option, text, message", [
    ("random_jpeg_quality", "min_jpeg_quality: 99 max_jpeg_quality: 95",
     r"options\[2\]\.random_jpeg_quality: min_jpeg_quality 99 > max_jpeg_quality 95"),
    ("random_adjust_contrast", "min_delta: 2 max_delta: 1", "min_delta 2 > max_delta 1"),
    ("random_crop_image", "min_area: 0.9 max_area: 0.1", "min_area 0.9 > max_area 0.1"),
    ("random_image_scale", "min_scale_ratio: 2 max_scale_ratio: 0.5", "min_scale_ratio 2 > max_scale_ratio 0.5"),
    ("random_adjust_brightness", "max_delta: -0.5", r"max_delta -0.5 \(expected >= 0\)"),
    ("random_horizontal_flip", "probability: 1.5", r"probability 1.5 \(expected a probability in \[0, 1\]\)"),
])
def test_empty_augmentation_ranges_are_refused_naming_the_field(option, text, message):
    step = text_format.Parse(f"{option} {{ {text} }}", preprocessor_pb2.PreprocessingStep())
    with pytest.raises(ValueError, match=message):
        preprocessor_builder.build(step, "train_config.data_augmentation_options[2]")


def test_an_unset_max_is_no_upper_bound():
    step = text_format.Parse("random_pad_image { min_image_height: 300 min_image_width: 300 }",
                             preprocessor_pb2.PreprocessingStep())
    preprocessor_builder.build(step)
