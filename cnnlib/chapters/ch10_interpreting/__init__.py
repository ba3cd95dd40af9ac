"""Chapter 10: Interpreting CNNs."""
