"""Chapter 06, Why ResNet works: the degradation report from the zoo's logs (``degradation``) and the
stored lesion experiments (``experiments``)."""
