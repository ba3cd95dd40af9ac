"""Chapter 09, The classics today: RepVGG's re-parameterisation step by step (``reparam``), why plain stacks run
fast (``speed``: compute density per kernel size, fused vs multi-branch, the memory of a skip connection),
"ResNet strikes back" and its CIFAR-10 ablation (``recipes``), the techniques of the course and residual
networks beyond images (``beyond``), the figures and explorer (``figures``), the checkers (``exercises``) and the
stored measurements (``experiments``: ``recipe_*``, ``kernel_density``, ``repvgg_speed``)."""
