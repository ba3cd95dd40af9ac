"""Chapter 07, After ResNet (Xception, SENet, ResNeXt, DenseNet): what their blocks cost (``costs``), the SE block
from its formulas and what the zoo's SE-ResNet learned (``se``), ResNeXt's three equivalent forms
(``aggregated``), DenseNet's feature reuse (``dense``), the accuracy-versus-cost charts (``charts``)."""
