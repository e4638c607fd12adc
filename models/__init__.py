"""The model registry's data: one folder per model, each a Python package.

A model folder holds what its ``train.py`` produced (``model.onnx``,
``metadata.json``, ``samples.npy``) and what ``python -m execution_layer.build``
produced from that (``settings.json``, ``model.compiled``, ``vk.key``,
``manifest.json``). ``srs/`` holds the one KZG SRS every circuit shares.
Nothing here imports ezkl; the execution layer reads these folders.
"""
