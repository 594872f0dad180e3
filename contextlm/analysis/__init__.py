"""What text says at different feature levels: stopword filtering, word counts,
weighted log-odds (Monroe et al. 2008), word clouds, and a text->feature regressor.

`compare(levels, texts)` measures; `write_report(comparison, out)` draws and writes.
The `contextlm wordcloud` command feeds it model samples (`sampling.sample_levels`) or
real text split by feature quantiles (`levels.quantile_levels`).
"""
from .compare import Comparison, compare
from .counts import WordFilter, count_words, words
from .levels import Level, check_levels, model_levels, quantile_levels, ramp
from .logodds import weighted_log_odds
from .regressor import FeatureRegressor, LevelScores, auc, score_levels
from .report import levels_table, terminal_table, write_report
from .stopwords import english_stopwords, load_stopwords, read_stopword_file

__all__ = ["Comparison", "compare", "WordFilter", "count_words", "words", "Level", "check_levels",
           "model_levels", "quantile_levels", "ramp", "weighted_log_odds", "FeatureRegressor",
           "LevelScores", "auc", "score_levels", "levels_table", "terminal_table", "write_report",
           "english_stopwords", "load_stopwords", "read_stopword_file"]
