"""ImageResizer proto -> image_resizer_fn(image [H, W, C] float32) -> (resized image, [h, w, c] int32).

Resizing is tf.compat.v1.image.resize_images (align_corners=False, half_pixel_centers=False), the kernel the OD
API's preprocessor.resize_image / resize_to_range use, so resized pixels match it exactly.
"""
import functools

import tensorflow as tf

from tfsynth.builders.config_check import reject_unhonoured, require_oneof

_METHODS = {"BILINEAR": tf.compat.v1.image.ResizeMethod.BILINEAR,
            "NEAREST_NEIGHBOR": tf.compat.v1.image.ResizeMethod.NEAREST_NEIGHBOR,
            "BICUBIC": tf.compat.v1.image.ResizeMethod.BICUBIC, "AREA": tf.compat.v1.image.ResizeMethod.AREA}


def _method(config):
    return _METHODS[config.DESCRIPTOR.fields_by_name["resize_method"].enum_type.values_by_number[
        config.resize_method].name]


def resize_image(image, new_height: int, new_width: int, method=tf.compat.v1.image.ResizeMethod.BILINEAR):
    """The OD API's preprocessor.resize_image (fixed_shape_resizer)."""
    resized = tf.compat.v1.image.resize_images(image, tf.stack([new_height, new_width]), method=method,
                                               align_corners=False)
    return resized, tf.stack([new_height, new_width, tf.shape(image)[2]])


def resize_to_range(image, min_dimension: int, max_dimension: int, method, pad_to_max_dimension: bool,
                    per_channel_pad_value):
    """The OD API's preprocessor.resize_to_range (keep_aspect_ratio_resizer)."""
    shape = tf.shape(image)
    height = tf.cast(shape[0], tf.float32)
    width = tf.cast(shape[1], tf.float32)
    large_scale = tf.constant(min_dimension, tf.float32) / tf.minimum(height, width)
    large = tf.cast(tf.round(tf.stack([height, width]) * large_scale), tf.int32)
    new_size = large
    if max_dimension:
        small_scale = tf.constant(max_dimension, tf.float32) / tf.maximum(height, width)
        small = tf.cast(tf.round(tf.stack([height, width]) * small_scale), tf.int32)
        new_size = tf.cond(tf.cast(tf.reduce_max(large), tf.float32) > max_dimension, lambda: small, lambda: large)
    resized = tf.compat.v1.image.resize_images(image, new_size, method=method, align_corners=False)
    if pad_to_max_dimension:
        channels = tf.unstack(resized, axis=2)
        if len(channels) != len(per_channel_pad_value):
            raise ValueError(f"keep_aspect_ratio_resizer: {len(per_channel_pad_value)} pad values for "
                             f"{len(channels)} channels")
        resized = tf.stack([tf.pad(c, [[0, max_dimension - new_size[0]], [0, max_dimension - new_size[1]]],
                                   constant_values=per_channel_pad_value[i]) for i, c in enumerate(channels)], axis=2)
        resized.set_shape([max_dimension, max_dimension, len(channels)])
    return resized, tf.concat([new_size, shape[2:3]], 0)


def _fixed(c, where):
    reject_unhonoured(c, {"height", "width", "resize_method"}, where)
    return functools.partial(resize_image, new_height=c.height, new_width=c.width, method=_method(c))


def _keep_aspect(c, where):
    reject_unhonoured(c, {"min_dimension", "max_dimension", "resize_method", "pad_to_max_dimension",
                          "per_channel_pad_value"}, where)
    if c.min_dimension > c.max_dimension:
        raise ValueError(f"{where}: min_dimension {c.min_dimension} exceeds max_dimension {c.max_dimension}")
    pad_values = tuple(c.per_channel_pad_value) or (0, 0, 0)
    return functools.partial(resize_to_range, min_dimension=c.min_dimension, max_dimension=c.max_dimension,
                             method=_method(c), pad_to_max_dimension=c.pad_to_max_dimension,
                             per_channel_pad_value=pad_values)


def _identity(c, where):
    return lambda image: (image, tf.shape(image))


_BUILDERS = {"fixed_shape_resizer": _fixed, "keep_aspect_ratio_resizer": _keep_aspect, "identity_resizer": _identity}


def build(config, where: str = "image_resizer"):
    kind = require_oneof(config, "image_resizer_oneof", _BUILDERS, where)
    return _BUILDERS[kind](getattr(config, kind), f"{where}.{kind}")
