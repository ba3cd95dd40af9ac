"""Chapter 02, AlexNet: figures and the LRN explorer (``figures``), the stored experiments
(``experiments``: ReLU vs tanh, ten-crop test-time augmentation ...), the exercises (``exercises``)."""
