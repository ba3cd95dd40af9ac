"""Reusable techniques for looking at networks, one module per topic; chapters and the zoo call them.

- :mod:`.summary`: per-layer tables (shapes, parameters, multiply-adds), counts, latency;
- :mod:`.activations`: the eval-mode and forward-hooks context managers, activations of named layers;
- :mod:`.receptive_field`: theoretical and empirical receptive fields, composed convolutions;
- :mod:`.costs`: where parameters and multiply-adds go; Inception module and factorisation costs;
- :mod:`.lesion`: silence or skip named modules and measure what is left (branches, residual blocks);
- :mod:`.landscape`: the loss along filter-normalised random directions (Li et al. 2018);
- :mod:`.responses`: per-layer response statistics (He et al. 2016, Fig. 7) and gradient norms;
- :mod:`.paths`: the unravelled view of a residual network: its paths and their lengths (Veit et al. 2016);
- :mod:`.transfer`: features of a frozen network and a linear probe on them;
- :mod:`.tta`: ten-crop test-time augmentation;
- :mod:`.metrics`: top-k accuracy, confidence intervals, standard errors, mistakes, curve crossings.

Import the topic you need: ``from cnnlib.analysis import summary`` or
``from cnnlib.analysis.metrics import topk_accuracy``.
"""
