"""nbs/02_sentence_vae.ipynb runs top to bottom on tiny settings."""
from tests.notebooks import run_notebook


def test_sentence_vae_notebook_runs(tmp_path):
    nb = run_notebook("02_sentence_vae.ipynb", workdir=tmp_path)  # raises on the first failing cell
    assert (tmp_path / "vae_curves.png").exists() and (tmp_path / "latent_energy.png").exists()
    assert (tmp_path / "vae_model" / "config.json").exists()


    # the family section: every member in the comparison table, and each answered the text methods
    table = next(c for c in nb.cells if "compare_vaes(members" in c.source).outputs[0]["data"]["text/plain"]
    for name in ("rnn", "cnn", "hybrid", "ladder", "rnn map", "rnn gmm", "lm twin"):
        assert name in table, name
    printed = "".join(o.get("text", "") for c in nb.cells if "for name, member in members" in c.source
                      for o in c.outputs)
    assert printed.count("reconstruct:") == 6 and printed.count("nearest:") == 6
