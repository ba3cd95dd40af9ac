"""Chapter 00, Introduction: the ILSVRC history (``ilsvrc``), convolutions over text and sound
(``signals``), the chapter's figures and explorers (``figures``) and its exercises (``exercises``)."""
