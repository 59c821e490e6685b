"""Lesson 3 check: build_my_encoder."""
from __future__ import annotations

import os

import keras
from keras import layers, ops

from course_utils import exercises as C
from course_utils.exercises import solutions
from course_utils.models import L2Normalize

from kit_helpers import NONE, exercise_tests, returns


# --- build_my_encoder --------------------------------------------------------------------------

def encoder_sequential(input_shape=(64, 64, 3), embedding_dim=128):
    model = keras.Sequential([keras.Input(shape=input_shape), layers.Rescaling(1.0 / 255)])
    for width in (32, 64, 128):
        model.add(layers.Conv2D(width, 3, padding="same", use_bias=False))
        model.add(layers.BatchNormalization())
        model.add(layers.ReLU())
        model.add(layers.MaxPooling2D(2))
    model.add(layers.GlobalAveragePooling2D())
    model.add(layers.Dense(embedding_dim))
    model.add(L2Normalize())
    return model


def encoder_builtin_layers(input_shape=(64, 64, 3), embedding_dim=128):
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    for width in (32, 64, 128):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.MaxPooling2D(2)(x)
    x = layers.Dense(embedding_dim)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, layers.UnitNormalization()(x))


def encoder_named_sequential(input_shape=(64, 64, 3), embedding_dim=128):
    """Another idiom: named layers, Activation("relu"), MaxPool2D alias with a tuple pool size."""
    blocks = []
    for k, width in enumerate((32, 64, 128)):
        blocks += [layers.Conv2D(width, (3, 3), strides=(1, 1), padding="same", use_bias=False, name=f"c{k}"),
                   layers.BatchNormalization(name=f"bn{k}"), layers.Activation("relu", name=f"act{k}"),
                   layers.MaxPool2D(pool_size=(2, 2), name=f"pool{k}")]
    return keras.Sequential([keras.Input(shape=input_shape), layers.Rescaling(1 / 255, name="scale"), *blocks,
                             layers.GlobalAveragePooling2D(name="gap"), layers.Dense(embedding_dim, name="emb"),
                             L2Normalize(name="l2")], name="student_encoder")


def _encoder(flatten=False, bias=False, batch_norm=True, dim=None, l2=True, rescale=True, lambda_layer=False,
             order="conv-bn-relu", padding="same", dense_activation=None, after_dense=None, pool="max",
             last_pool=True, dropout=False, strides=1, kernel=3, norm_axis=None):
    def build_my_encoder(input_shape=(64, 64, 3), embedding_dim=128):
        inputs = keras.Input(shape=input_shape)
        x = layers.Rescaling(1.0 / 255)(inputs) if rescale else inputs
        for width in (32, 64, 128):
            if order == "conv(relu)-bn":
                x = layers.Conv2D(width, 3, padding=padding, use_bias=bias, activation="relu")(x)
                x = layers.MaxPooling2D(2)(layers.BatchNormalization()(x))
                continue
            x = layers.Conv2D(width, kernel, strides=strides, padding=padding, use_bias=bias)(x)
            if order == "conv-relu-bn":
                x = layers.MaxPooling2D(2)(layers.BatchNormalization()(layers.ReLU()(x)))
                continue
            if batch_norm:
                x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
            if last_pool or width != 128:
                x = (layers.MaxPooling2D(2) if pool == "max" else layers.AveragePooling2D(2))(x)
        x = layers.Flatten()(x) if flatten else layers.GlobalAveragePooling2D()(x)
        if dropout:
            x = layers.Dropout(0.3)(x)
        x = layers.Dense(dim or embedding_dim, activation=dense_activation)(x)
        if after_dense is not None:
            x = after_dense()(x)
        if norm_axis is not None:
            x = layers.UnitNormalization(axis=norm_axis)(x)
        elif lambda_layer:
            x = layers.Lambda(lambda t: t / ops.norm(t, axis=-1, keepdims=True))(x)
        elif l2:
            x = L2Normalize()(x)
        return keras.Model(inputs, x)
    return build_my_encoder


ENCODER_MISTAKES = {
    "it uses Flatten": _encoder(flatten=True),
    "the convolutions have a bias": _encoder(bias=True),
    "BatchNormalization is missing": _encoder(batch_norm=False),
    "wrong embedding size": _encoder(dim=128),
    "not unit length": _encoder(l2=False),
    "the Rescaling layer is missing": _encoder(rescale=False),
    "keras.layers.Lambda": _encoder(lambda_layer=True),
    # issue 12: same parameter count, so only the saved layers can tell
    "ReLU before BatchNorm: in your blocks": _encoder(order="conv-relu-bn"),
    "ReLU before BatchNorm: the Conv2D has activation='relu'": _encoder(order="conv(relu)-bn"),
    "padding='valid'": _encoder(padding="valid"),
    # same output shape, unit length and parameter count: behaviour and the saved layers tell
    "activation='relu' on the embedding": _encoder(dense_activation="relu"),
    "activation='softmax' on the embedding": _encoder(dense_activation="softmax"),
    "a ReLU layer comes after the Dense": _encoder(after_dense=layers.ReLU),
    "block 3 (width 128) has 0 MaxPooling2D": _encoder(last_pool=False),
    "it uses AveragePooling2D": _encoder(pool="avg"),
    "it has a Dropout layer": _encoder(dropout=True),
    "strides=(2, 2)": _encoder(strides=2, padding="same"),
    "kernel_size=(5, 5)": _encoder(kernel=5),
    "the normalisation runs over axis=0": _encoder(norm_axis=0),
    "use keras.Input(shape=input_shape)": lambda input_shape=(64, 64, 3), embedding_dim=128: _encoder()((64, 64, 3), embedding_dim),
}




CORRECT = [
(C.check_build_my_encoder, solutions.build_my_encoder), (C.check_build_my_encoder, encoder_sequential),
    (C.check_build_my_encoder, encoder_builtin_layers), (C.check_build_my_encoder, encoder_named_sequential),
    ]

MISTAKES = [(check, hint, fn) for check, table in [(C.check_build_my_encoder, ENCODER_MISTAKES)] for hint, fn in table.items()]

FALLBACKS = [
(C.check_build_my_encoder, "build_my_encoder", solutions.build_my_encoder, "course_utils.exercises.solutions.build_my_encoder"),
    ]

WRONG_KINDS = [
(C.check_build_my_encoder, NONE, "returned None"),
    (C.check_build_my_encoder, returns(1.0), "should return a keras.Model, got Python float"),
    ]


# Each seed builds and saves a Keras model: a shorter sweep unless COURSE_STABILITY_SEEDS asks for more.
globals().update(exercise_tests(CORRECT, MISTAKES, FALLBACKS, WRONG_KINDS,
                                seeds=None if "COURSE_STABILITY_SEEDS" in os.environ else 3))


def test_block_order_and_padding_are_judged_by_the_grader_too(tmp_path):
    """Issue 12: ReLU before BatchNorm and padding="valid" passed; the grader reads the saved model."""
    from kit_helpers import probe_message
    from course_utils.exercises.lesson03_encoder import BUILD_MY_ENCODER
    for fn, words in [(_encoder(order="conv-relu-bn"), "ReLU before BatchNorm"),
                      (_encoder(padding="valid"), "padding='valid'")]:
        message, reason = probe_message(BUILD_MY_ENCODER, fn, 3, tmp_path)
        assert reason == "wrong_value" and words in message, message


def test_behaviour_and_pooling_are_judged_by_the_grader_from_the_saved_model(tmp_path):
    """ReLU on the embedding, a missing last pooling, AveragePooling and Dropout all had the right
    output shape, unit length and parameter count; the grader judges the reloaded .keras model."""
    from kit_helpers import probe_message
    from course_utils.exercises.lesson03_encoder import BUILD_MY_ENCODER
    for fn, words in [(_encoder(dense_activation="relu"), "activation='relu' on the embedding"),
                      (_encoder(last_pool=False), "block 3 (width 128) has 0 MaxPooling2D"),
                      (_encoder(pool="avg"), "AveragePooling2D"), (_encoder(dropout=True), "Dropout"),
                      (_encoder(strides=2), "strides=(2, 2)")]:
        message, reason = probe_message(BUILD_MY_ENCODER, fn, 3, tmp_path)
        assert reason == "wrong_value" and words in message, message
    message, reason = probe_message(BUILD_MY_ENCODER, encoder_named_sequential, 3, tmp_path)
    assert reason == "correct", message


def test_the_sign_check_judges_behaviour_alone():
    """The behavioural rule on its own: non-negative embeddings are refused, signed ones pass."""
    import numpy as np
    from course_utils.exercises.lesson03_encoder import _sign_problem
    rng = np.random.default_rng(0)
    signed = rng.normal(size=(3, 16))
    assert _sign_problem(signed) is None
    assert "≥ 0" in _sign_problem(np.abs(signed))
