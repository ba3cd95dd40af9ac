"""Chapter 05, ResNet and its relatives: the stored experiments (``experiments``: the loss landscapes of
resnet56 and plain56)."""
