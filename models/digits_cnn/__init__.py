"""Default model: a small CNN classifying scikit-learn's 8x8 handwritten digits.

Input: one image, shape (1, 1, 8, 8), pixel intensities scaled to [0, 1].
Output: 10 logits. The contract (input spec, labels, timeout) is
``metadata.json``; ``train.py`` rebuilds ``model.onnx`` and ``samples.npy``.
"""
