"""An attention model: one small transformer block (ReLU attention) over scikit-learn's 8x8 handwritten digits.

Input: one image as 8 tokens, shape (1, 8, 8): the rows, 8 pixels each,
intensities scaled to [0, 1]. Output: 10 logits. The contract (input spec,
labels) is ``metadata.json``; ``train.py`` rebuilds ``model.onnx``
and ``samples.npy``.
"""
