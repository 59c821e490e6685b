"""nbgrader configuration for the instructor's course folder (classroom/README.md, "Grading").

Copy into the course folder (it holds source/, release/, submitted/, autograded/, feedback/ and
gradebook.db) or run nbgrader from here with CLASSROOM_ROOT set as for the hub.
"""
import os
from pathlib import Path

ROOT = Path(os.environ.get("CLASSROOM_ROOT", Path(__file__).resolve().parent / "classroom-run")).resolve()
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ.get("CLASSROOM_COURSE_ID", "facenet")
c.CourseDirectory.root = str(ROOT / "course")
c.Exchange.root = str(ROOT / "exchange")
c.Exchange.path_includes_course = True
# Autograde runs each submission top to bottom in the course's own environment; the graded cells
# are the lesson's in-kernel checks (course_utils), so a wrong function fails its check cell.
c.ExecutePreprocessor.timeout = 600
c.Autograde.create_student = True
