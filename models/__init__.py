"""The model registry's data: one folder per model, each a Python package.

A model folder holds its contract, ``metadata.json`` (written by the author;
``train.py`` fills in the measured accuracy), what its ``train.py`` produced
(``model.onnx``, ``samples.npy``) and what ``python -m execution_layer.build``
produced from those (``settings.json``, ``model.compiled``, ``vk.key``,
``manifest.json``). ``srs/`` holds the one KZG SRS every circuit shares.

``models.metadata`` parses the contract (``ModelMetadata``, ``InputSpec``);
``models.sampling`` draws the validator's inputs from a model's samples and
spec (``Sampler``). Nothing here imports ezkl; the execution layer reads
these folders.
"""
