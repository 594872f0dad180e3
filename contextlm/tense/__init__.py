"""English tense conversion with a character-level CVAE (the NCTU DLP lab), built on the
sentence-VAE stack.

- `contextlm.tense.data`: the lab's file format, tense names and aliases, the ten test
  conditions, lemminflect's verbs and a held-out split of verbs never seen in training;
- `contextlm.tense.metrics`: the lab's character BLEU-4 and Gaussian score;
- `contextlm.tense.model`: `TenseCVAE` (a `SentenceVAE`), pair batches, `TenseLearner`
  (a `VAELearner`: convert, sample_tenses, scores, model folders), `train_tense_cvae`;
- `contextlm.tense.settings`: `TrainSettings` (torch-free, read by the CLI).

Submodules are imported explicitly so `contextlm --help` never loads torch.
"""
