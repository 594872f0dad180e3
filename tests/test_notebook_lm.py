"""nbs/01_energy_lm.ipynb runs top to bottom (tiny settings) and saves a loadable model."""
from contextlm.lm.learner import load_lm
from tests.notebooks import run_notebook


def test_energy_lm_notebook_runs(tmp_path):
    nb = run_notebook("01_energy_lm.ipynb", tmp_path)
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "n_inp = 2" in outputs and "ratio:" in outputs and "high-energy word rate" in outputs
    lm = load_lm(tmp_path / "models" / "energy_lm")
    assert lm.feature_names == ["energy"] and lm.conditioned
