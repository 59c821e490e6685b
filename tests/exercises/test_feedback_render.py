"""A failed check shows the student its message alone: no traceback into the course's files.

nbgrader's feedback and JupyterLab both render a cell's error through IPython, which uses an
exception's ``_render_traceback_`` when it has one (harness.CheckFailed does)."""
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

WRONG_FRR = '''
import numpy as np
from course_utils.exercises import check_frr_at

def frr_at(distances, same, threshold):
    distances, same = np.asarray(distances), np.asarray(same, bool)
    return float(np.mean(distances[~same] <= threshold))     # FAR, not FRR

check_frr_at(frr_at)
'''


def test_a_failed_check_renders_as_its_message_only(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(WRONG_FRR)]
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError):
        client.execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    text = "\n".join(error.traceback)
    assert error.ename == "CheckFailed"
    assert "harness.py" not in text and "course_utils" not in text and "site-packages" not in text
    assert "frr_at" in text and "Likely mistake" in error.traceback[2] and len(error.traceback) <= 15, text
