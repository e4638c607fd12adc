"""Tabular model: an MLP classifying scikit-learn's wine data set (3 cultivars).

Input: 13 chemical measurements, standardised (z-scores with the training
set's mean and std), shape (1, 13), clipped to [-4, 4]. Output: 3 logits.
The contract (input spec, labels, timeout) is ``metadata.json``; ``train.py``
rebuilds ``model.onnx`` and ``samples.npy``.
"""
