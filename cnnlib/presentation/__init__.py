"""The presentation layer: slides checked, decks and a course site built (``python3 course.py build``)."""
