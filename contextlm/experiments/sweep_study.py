"""The sweep's study: its storage (a SQLite file, or any database URL several machines share), file
locks, opening/resuming and checking it, the best folder's record."""
from __future__ import annotations

import json
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ContextLMError

if TYPE_CHECKING:
    from .sweep import SweepPlan

SWEEP_ATTR = "contextlm_sweep"
BEST_FILE = "sweep.json"


def study_path(path: str | Path, flag: str = "--study") -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".sqlite", ".db", ".sqlite3"):
        raise ContextLMError(f"{flag} {path}: name a SQLite file ending in .sqlite (e.g. runs/sweeps/lm.sqlite)")
    if path.is_dir():
        raise ContextLMError(f"{flag} {path}: is a folder; name a file such as {path / 'study.sqlite'}")
    return path


HEARTBEAT_S, GRACE_S = 60, 300   # shared studies: a worker silent for GRACE_S seconds is dead, its trial fails


def redact_url(url: str) -> str:
    """`url` without its password (`postgresql://me:***@host/db`): what may be printed or recorded."""
    import re
    return re.sub(r"(//[^/:@]*):[^@/]*@", r"\1:***@", url)


def check_storage_url(url: str) -> str:
    """A database URL SQLAlchemy can read (`sqlite:///f.db`, `postgresql://u@h/db`, `mysql+pymysql://...`);
    a SQLite file's folder is created."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    try:
        u = make_url(url)
    except (ArgumentError, ValueError):
        raise ContextLMError(f"--storage {redact_url(url)}: not a database URL (e.g. sqlite:///runs/sweeps/lm.db, "
                             f"postgresql://user@host/optuna)") from None
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    return url


def storage(url: str, shared: bool = False):
    """Optuna's RDB storage; `shared` (a `--storage` database other workers use): with a heartbeat,
    so a dead worker's trial is failed and replaced. A URL that cannot be opened is one line
    (the password never in it)."""
    import optuna
    kwargs = {"heartbeat_interval": HEARTBEAT_S, "grace_period": GRACE_S} if shared else {}
    # several worker processes write one SQLite file: wait for its lock instead of failing
    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)
        except ImportError as e:
            raise ContextLMError(f"--storage {redact_url(url)}: its database driver is not installed "
                                 f"({e.name or e})") from None
        except Exception as e:   # SQLAlchemy's errors: one line, no password
            racing = any(s in str(e) for s in ("already exists", "UNIQUE constraint", "duplicate key"))
            if racing and attempt < 4:   # two workers made a fresh database's tables at once: the other one won
                time.sleep(1 + attempt)
                continue
            msg = redact_url(str(e).splitlines()[0] if str(e) else type(e).__name__)
            raise ContextLMError(f"--storage {redact_url(url)}: cannot open the database ({msg[:200]})") from None


@contextmanager
def file_lock(path: Path, what: str, wait: bool = False):
    """An exclusive `flock` on `path` (refused at once unless `wait`)."""
    import fcntl
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ContextLMError(f"{what} is in use by another process ({path}); wait for it to end") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def finished_trials(study) -> list:
    from optuna.trial import TrialState
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def open_study(plan: SweepPlan, data: list[dict[str, Any]], log: Callable[[str], None]):
    """Create or resume the study; refuse one made by another command; fail what a killed sweep left running."""
    import optuna
    from optuna.trial import TrialState
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if plan.study is not None:
        plan.study.parent.mkdir(parents=True, exist_ok=True)
    st = storage(plan.url, shared=plan.shared)
    try:
        study = optuna.create_study(storage=st, study_name=plan.study_name, direction=plan.direction,
                                    load_if_exists=True)
    except ValueError as e:   # e.g. a multi-objective study of the same name
        raise ContextLMError(f"{plan.flag} {plan.where}: {e}") from None
    wanted = plan.identity(data)
    saved = study.user_attrs.get(SWEEP_ATTR)
    if saved is None:
        if study.trials:
            raise ContextLMError(f"{plan.flag} {plan.where}: study {plan.study_name!r} has trials but was not made by "
                                 f"`contextlm sweep`; use another study")
        study.set_user_attr(SWEEP_ATTR, {**wanted, "token": secrets.token_hex(8), "created": time.time()})
    else:
        diff = [k for k in wanted if json.dumps(saved.get(k), sort_keys=True) != json.dumps(wanted[k], sort_keys=True)]
        if diff:
            raise ContextLMError(f"{plan.flag} {plan.where}: made by a sweep with other {', '.join(diff)}; "
                                 f"rerun that command to resume it, or use another study")
    if plan.shared:   # other workers' trials may be running: the heartbeat fails the dead ones
        return study
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    for t in stale:   # the study lock is ours: nobody else is running these
        st.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
    if stale:
        log(f"marked {len(stale)} trial(s) left running by an interrupted sweep as failed "
            f"(#{', #'.join(str(t.number) for t in stale)}); they are replaced")
    return study


def check_data(plan: SweepPlan) -> None:
    """Read the corpus once with the base settings: a wrong file or column fails before any trial."""
    if plan.kind == "lm":
        from ..lm.settings import LMSettings
        from ..lm.train import load_lm_corpus
        load_lm_corpus(plan.data, LMSettings.from_dict(plan.base), verbose=False)
    else:
        from ..vae.settings import SentenceVAESettings
        from ..vae.train import sentence_table
        sentence_table(SentenceVAESettings.from_dict(plan.base), data=plan.data, ptb=plan.ptb)

def read_best(best: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(best) / BEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_sweep_study(path: str | Path | None, name: str | None = None, url: str | None = None):
    """The study in the SQLite file `path`, or in the database `url` (`--storage`): its only
    one, or `name`."""
    import optuna
    if url is not None:
        st = storage(check_storage_url(url))
        path = redact_url(url)
    else:
        path = study_path(path, "STUDY")
        if not path.is_file():
            raise ContextLMError(f"{path}: no such study file")
        st = storage(f"sqlite:///{path.resolve()}")
    names = [s.study_name for s in optuna.study.get_all_study_summaries(st, include_best_trial=False)]
    if not names:
        raise ContextLMError(f"{path}: holds no study")
    if name is None:
        if len(names) > 1:
            raise ContextLMError(f"{path}: holds {len(names)} studies ({', '.join(names)}); choose one with --name")
        name = names[0]
    elif name not in names:
        raise ContextLMError(f"{path}: no study {name!r}; it holds {', '.join(names)}")
    return optuna.load_study(study_name=name, storage=st)
