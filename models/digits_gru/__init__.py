"""digits_gru: a gated recurrent network reading scikit-learn's 8x8 digits row by row.

The image's 8 rows are an 8-step sequence of 8 pixels; a GRU cell of 8 units with
hard (piecewise-linear) gates reads them and a linear head maps its last state to 10
logits. Trained by ``train.py``; the circuit is built by ``python -m execution_layer.build``.
"""
