"""Tests of the chapters' own code (cnnlib/chapters/chNN_slug/), one file per chapter and kind."""
