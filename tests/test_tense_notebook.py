"""nbs/03_tense_cvae.ipynb runs top to bottom on tiny settings (CONTEXTLM_TINY=1)."""
from pathlib import Path

from contextlm.tense.data import read_test_pairs
from contextlm.tense.model import load_tense_learner

from .notebooks import run_notebook

FIXTURES = Path(__file__).parent / "fixtures"


def test_tense_notebook_runs_tiny(tmp_path):
    nb = run_notebook("03_tense_cvae.ipynb", workdir=tmp_path)  # raises on the first failing cell
    code = [c for c in nb.cells if c.cell_type == "code"]
    table = next(c for c in code if "convert_pairs(test_pairs)" in c.source)
    html = table.outputs[0]["data"]["text/html"]
    folder = tmp_path / "runs" / "cvae-tense-notebook"
    pairs = read_test_pairs(FIXTURES / "verbs_pairs.txt")
    outputs = load_tense_learner(folder).convert_pairs(pairs)
    # the table's output column holds what the saved model writes, row by row after its input and target
    for pair, out in zip(pairs, outputs):
        row = f"<td>{pair.src}</td>\n      <td>{pair.condition.replace('>', '&gt;')}</td>\n      " \
              f"<td>{pair.tgt}</td>\n      <td>{out}</td>"
        assert row in html, (row, html)
