"""cnnlib.chapters: the chapters are found by name, their modules of a kind are discovered, checkers report alike."""

from __future__ import annotations

from cnnlib import chapters


def test_chapters_and_their_modules_are_discovered():
    names = chapters.chapters()
    assert names[:5] == ["ch00_introduction", "ch01_lenet", "ch02_alexnet", "ch03_vgg", "ch04_googlenet"]
    found = [m.__name__ for m in chapters.chapter_modules("experiments")]
    assert found == [
        f"cnnlib.chapters.{c}.experiments"
        for c in (
            "ch02_alexnet",
            "ch03_vgg",
            "ch05_resnet",
            "ch06_why_resnet",
            "ch08_mobile",
            "ch09_classics_today",
            "ch10_interpreting",
        )
    ]
    exercises = [m.__name__.split(".")[2] for m in chapters.chapter_modules("exercises")]
    assert exercises == names  # every chapter has exercises
    assert chapters.chapter_modules("no_such_kind") == []


def test_passed_prints_what_was_verified(capsys):
    assert chapters.passed("the kernel is 5x5") is True
    assert capsys.readouterr().out == "Correct: the kernel is 5x5\n"
