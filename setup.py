from pathlib import Path
from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
exec((here / "contextlm" / "version.py").read_text(), version)

setup(
    name="contextlm",
    version=version["__version__"],
    description="Language models conditioned on what music sounds like (fastai AWD-LSTM + sentence VAEs)",
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["contextlm", "contextlm.*"]),
    package_data={"contextlm": ["resources/*"]},
    install_requires=[
        # CPU wheel on these machines; a looser pin pulls gigabytes of CUDA wheels.
        "torch==2.13.0",
        # fastai requires torchvision; contextlm never imports it.
        "torchvision==0.28.0",
        "fastai>=2.8.12,<2.9",
        "pandas>=2.0",
        "numpy",
        "pyarrow",
        "nltk",
        "wordcloud",
        "matplotlib",
        "scikit-learn>=1.6",  # shuffled GroupKFold (the conditioning judge)
        "spotipy",
        "rapidfuzz",
        "ftfy",
        "lemminflect",
        "optuna>=4.0",  # contextlm sweep (resumable SQLite studies, pruning)
        "accelerate>=1.0",  # data-parallel training: the process group under accelerate launch / torchrun
    ],
    extras_require={"test": ["pytest", "nbformat", "nbclient", "ipykernel"]},
    entry_points={"console_scripts": ["contextlm=contextlm.cli:main"]},
)
