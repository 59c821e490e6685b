"""nbgrader settings this course needs (nbgrader 0.9.x). Copy this file to the root of your
nbgrader course directory as ``nbgrader_config.py`` (or ``c.merge`` it into yours).

* **Timeout**: nbgrader's default is 30 s per cell; lesson 8's widget cell and any lesson's first
  cell (TensorFlow start-up, the benchmark loaded or generated) can take longer on a busy server.
  A cell that runs past the timeout is interrupted and the next cells still run.
* **Environment**: the kernels inherit nbgrader's environment, so this file sets the course's
  grading settings there: quick mode (lesson 7-10 train a seconds-long encoder instead of minutes;
  ``load_benchmark()`` stays fast), the synthetic benchmark (deterministic, no download; set
  ``COURSE_DATASET=lfw`` before running nbgrader to grade on real faces), no downloads, and a
  scratch ``COURSE_DATA_DIR`` so grading never overwrites the instructor's encoder. nbgrader sets
  ``NBGRADER_EXECUTION`` itself, which puts the checks in grading mode (an unsolved exercise fails).
* **Kernel**: the notebooks name the ``python3`` kernel; it must be the environment where the
  course is installed (``pip install -e .`` of this repository).

nbgrader runs each check *inside* the student's kernel; ``python3 course.py grade`` judges outside
it and survives submissions that attack the grader (README, section "Grading"). Use the latter for
anything that counts.
"""
import os
import tempfile

c = get_config()  # noqa: F821 — provided by nbgrader when it loads this file

c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

os.environ.setdefault("COURSE_QUICK", "1")
os.environ.setdefault("COURSE_DATASET", "synthetic")
os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_DATA_DIR", tempfile.mkdtemp(prefix="course-nbgrader-"))
