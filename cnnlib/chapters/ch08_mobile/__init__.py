"""Chapter 08, Mobile architectures: the papers' tables and the counts beside them (``tables``), MobileNetV2's
ReLU-on-a-manifold experiment (``manifold``), ShuffleNet v2's four guidelines as CPU micro-benchmarks
(``guidelines``), per-layer latency (``latency``), the figures and the multiplier explorer (``figures``), the
checkers (``exercises``) and the stored measurements (``experiments``: ``mobile_latency``,
``shufflenet_guidelines``)."""
