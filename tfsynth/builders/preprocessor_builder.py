"""PreprocessingStep proto (train_config.data_augmentation_options) -> (preprocessor op, kwargs).

Mirrors the OD API's preprocessor_builder: each option maps to the op of the same name in
tfsynth.core.preprocessor with the proto's fields as keyword arguments. An option the OD API defines but
tfsynth does not implement raises NotImplementedError naming it (never silently skipped).
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf
from google.protobuf import descriptor

from tfsynth.core import preprocessor

# Options whose proto fields are exactly the op's keyword arguments.
_SAME_FIELDS = {
    "normalize_image": preprocessor.normalize_image,
    "random_pixel_value_scale": preprocessor.random_pixel_value_scale,
    "random_image_scale": preprocessor.random_image_scale,
    "random_rgb_to_gray": preprocessor.random_rgb_to_gray,
    "random_adjust_brightness": preprocessor.random_adjust_brightness,
    "random_adjust_contrast": preprocessor.random_adjust_contrast,
    "random_adjust_hue": preprocessor.random_adjust_hue,
    "random_adjust_saturation": preprocessor.random_adjust_saturation,
    "random_distort_color": preprocessor.random_distort_color,
    "random_black_patches": preprocessor.random_black_patches,
    "random_jpeg_quality": preprocessor.random_jpeg_quality,
    "random_patch_gaussian": preprocessor.random_patch_gaussian,
    "random_square_crop_by_scale": preprocessor.random_square_crop_by_scale,
    "random_scale_crop_and_pad_to_square": preprocessor.random_scale_crop_and_pad_to_square,
    "random_crop_to_aspect_ratio": preprocessor.random_crop_to_aspect_ratio,
    "scale_boxes_to_pixel_coordinates": preprocessor.scale_boxes_to_pixel_coordinates,
}

_RESIZE_METHODS = {
    "AREA": tf.image.ResizeMethod.AREA,
    "BICUBIC": tf.image.ResizeMethod.BICUBIC,
    "BILINEAR": tf.image.ResizeMethod.BILINEAR,
    "NEAREST_NEIGHBOR": tf.image.ResizeMethod.NEAREST_NEIGHBOR,
}


def _fields(config) -> dict:
    """Every scalar field of a message with its value (defaults included), repeated fields as tuples."""
    values = {}
    for field in config.DESCRIPTOR.fields:
        value = getattr(config, field.name)
        repeated = hasattr(value, "__len__") and not isinstance(value, (str, bytes))
        values[field.name] = tuple(value) if repeated else value
    return values


def _crop_kwargs(config) -> dict:
    return {
        "min_object_covered": config.min_object_covered,
        "aspect_ratio_range": (config.min_aspect_ratio, config.max_aspect_ratio),
        "area_range": (config.min_area, config.max_area),
        "overlap_thresh": config.overlap_thresh,
        "clip_boxes": config.clip_boxes,
        "random_coef": config.random_coef,
    }


def _transpose(operations: list[dict]) -> dict:
    """[{name: value}, ...] per operation -> {name: (value, ...)}."""
    return {name: tuple(op[name] for op in operations) for name in operations[0]}


def check_ranges(config, where: str) -> None:
    """ValueError naming the field when an option's min_X exceeds its max_X (defaults included; a max left unset
    at 0 means none), a probability or random_coef lies outside [0, 1], or a max_delta is negative. Checked when the
    config is read: TensorFlow would otherwise fail inside the input pipeline with 'Need minval < maxval' and no
    field named, or (for contrast, crop areas, scales) silently sample from an empty range."""
    fields = {field.name: getattr(config, field.name) for field in config.DESCRIPTOR.fields
              if not field.is_repeated and field.type in _NUMBER_TYPES}
    for name, value in fields.items():
        upper = "max_" + name[len("min_"):]
        if name.startswith("min_") and upper in fields:
            if (fields[upper] or config.HasField(upper)) and value > fields[upper]:
                raise ValueError(f"{where}: {name} {value:g} > {upper} {fields[upper]:g} (expected {name} <= {upper})")
        if name in ("probability", "random_coef") and not 0.0 <= value <= 1.0:
            raise ValueError(f"{where}: {name} {value:g} (expected a probability in [0, 1])")
        if name == "max_delta" and value < 0:
            raise ValueError(f"{where}: max_delta {value:g} (expected >= 0)")


_NUMBER_TYPES = {descriptor.FieldDescriptor.TYPE_FLOAT, descriptor.FieldDescriptor.TYPE_DOUBLE,
                 descriptor.FieldDescriptor.TYPE_INT32, descriptor.FieldDescriptor.TYPE_INT64,
                 descriptor.FieldDescriptor.TYPE_UINT32}


def build(preprocessor_step_config, where: str = "data_augmentation_options") -> tuple[Callable, dict]:
    """PreprocessingStep -> (op, kwargs) for tfsynth.core.preprocessor.preprocess.

    Raises ValueError when no option is set or a range is empty (check_ranges; `where` names the step in the
    message) and NotImplementedError for an option tfsynth lacks.
    """
    step = preprocessor_step_config.WhichOneof("preprocessing_step")
    if step is None:
        raise ValueError(f"{where}: empty PreprocessingStep (no option set)")
    config = getattr(preprocessor_step_config, step)
    check_ranges(config, f"{where}.{step}")

    if step in _SAME_FIELDS:
        return _SAME_FIELDS[step], _fields(config)
    if step in ("random_horizontal_flip", "random_vertical_flip"):
        return getattr(preprocessor, step), {
            "keypoint_flip_permutation": tuple(config.keypoint_flip_permutation) or None,
            "probability": config.probability}
    if step == "random_rotation90":
        return preprocessor.random_rotation90, {
            "keypoint_rot_permutation": tuple(config.keypoint_rot_permutation) or None,
            "probability": config.probability}
    if step == "random_jitter_boxes":
        if config.jitter_mode != config.DEFAULT:
            raise NotImplementedError(
                f"random_jitter_boxes.jitter_mode {config.JitterMode.Name(config.jitter_mode)} is not "
                "implemented (only DEFAULT)")
        return preprocessor.random_jitter_boxes, {"ratio": config.ratio}
    if step == "random_crop_image":
        return preprocessor.random_crop_image, _crop_kwargs(config)
    if step == "random_pad_image":
        kwargs = {"min_image_size": None, "max_image_size": None, "pad_color": tuple(config.pad_color) or None}
        if config.HasField("min_image_height") and config.HasField("min_image_width"):
            kwargs["min_image_size"] = (config.min_image_height, config.min_image_width)
        if config.HasField("max_image_height") and config.HasField("max_image_width"):
            kwargs["max_image_size"] = (config.max_image_height, config.max_image_width)
        return preprocessor.random_pad_image, kwargs
    if step == "random_absolute_pad_image":
        return preprocessor.random_absolute_pad_image, {
            "max_height_padding": config.max_height_padding, "max_width_padding": config.max_width_padding,
            "pad_color": tuple(config.pad_color) or None}
    if step == "random_crop_pad_image":
        kwargs = _crop_kwargs(config)
        if config.min_padded_size_ratio:
            kwargs["min_padded_size_ratio"] = tuple(config.min_padded_size_ratio)
        if config.max_padded_size_ratio:
            kwargs["max_padded_size_ratio"] = tuple(config.max_padded_size_ratio)
        kwargs["pad_color"] = tuple(config.pad_color) or None
        return preprocessor.random_crop_pad_image, kwargs
    if step == "random_resize_method":
        return preprocessor.random_resize_method, {"target_size": (config.target_height, config.target_width)}
    if step == "resize_image":
        return preprocessor.resize_image, {
            "new_height": config.new_height, "new_width": config.new_width,
            "method": _RESIZE_METHODS[config.Method.Name(config.method)]}
    if step == "subtract_channel_mean":
        return preprocessor.subtract_channel_mean, {"means": tuple(config.means)}
    if step == "ssd_random_crop":
        if not config.operations:
            return preprocessor.ssd_random_crop, {}
        return preprocessor.ssd_random_crop, _transpose([_crop_kwargs(op) for op in config.operations])
    if step == "ssd_random_crop_pad":
        if not config.operations:
            return preprocessor.ssd_random_crop_pad, {}
        per_op = []
        for op in config.operations:
            kwargs = _crop_kwargs(op)
            kwargs["min_padded_size_ratio"] = tuple(op.min_padded_size_ratio) or (1.0, 1.0)
            kwargs["max_padded_size_ratio"] = tuple(op.max_padded_size_ratio) or (2.0, 2.0)
            kwargs["pad_color"] = (op.pad_color_r, op.pad_color_g, op.pad_color_b)
            per_op.append(kwargs)
        return preprocessor.ssd_random_crop_pad, _transpose(per_op)
    if step == "ssd_random_crop_fixed_aspect_ratio":
        kwargs = {"aspect_ratio": config.aspect_ratio}
        if config.operations:
            per_op = [{"min_object_covered": op.min_object_covered, "area_range": (op.min_area, op.max_area),
                       "overlap_thresh": op.overlap_thresh, "clip_boxes": op.clip_boxes,
                       "random_coef": op.random_coef} for op in config.operations]
            kwargs.update(_transpose(per_op))
        return preprocessor.ssd_random_crop_fixed_aspect_ratio, kwargs
    raise NotImplementedError(f"data_augmentation_options: {step} is not implemented in tfsynth")
