"""nbs/03_tense_cvae.ipynb runs top to bottom on tiny settings (CONTEXTLM_TINY=1)."""
from .notebooks import run_notebook


def test_tense_notebook_runs_tiny(tmp_path):
    nb = run_notebook("03_tense_cvae.ipynb", workdir=tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not any(o.get("output_type") == "error" for o in c.outputs) for c in code)
    table = next(c for c in code if "convert_pairs(test_pairs)" in c.source)
    html = table.outputs[0]["data"]["text/html"]
    assert "walked" in html and "sp-&gt;p" in html  # the fixture pair walk -> walked (sp->p) is in the table
    assert (tmp_path / "runs" / "cvae-tense-notebook" / "config.json").exists()
