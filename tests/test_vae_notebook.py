"""nbs/02_sentence_vae.ipynb runs top to bottom on tiny settings."""
from tests.notebooks import run_notebook


def test_sentence_vae_notebook_runs(tmp_path):
    run_notebook("02_sentence_vae.ipynb", workdir=tmp_path)  # raises on the first failing cell
    assert (tmp_path / "vae_curves.png").exists() and (tmp_path / "latent_energy.png").exists()
    assert (tmp_path / "vae_model" / "config.json").exists()

