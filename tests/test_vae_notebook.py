"""nbs/02_sentence_vae.ipynb runs top to bottom on tiny settings."""
from tests.notebooks import run_notebook


def test_sentence_vae_notebook_runs(tmp_path):
    nb = run_notebook("02_sentence_vae.ipynb", workdir=tmp_path)
    assert (tmp_path / "vae_curves.png").exists() and (tmp_path / "latent_energy.png").exists()
    assert (tmp_path / "vae_model" / "config.json").exists()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
