"""Chapter 03, VGG: receptive-field and per-layer figures (``figures``), the stored experiments
(``experiments``: depth on CIFAR-10, transfer to Imagenette), the exercises (``exercises``)."""
