"""Instructor tools (authoring, grading, publishing, classroom preparation), called by course.py; notebooks never import this."""
