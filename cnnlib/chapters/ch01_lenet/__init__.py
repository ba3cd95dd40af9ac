"""Chapter 01, LeNet-5: the exercises' checkers (``exercises``). Its figures are the shared ones
(:mod:`cnnlib.viz`, :mod:`cnnlib.widgets`)."""
