"""Chapter 04, GoogLeNet and Inception: Table 1 of Szegedy et al. 2014 measured (``table1``), the
module designer and overview figures (``figures``), the exercises (``exercises``)."""
