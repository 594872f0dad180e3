"""Every numeric flag of every command refuses 0, -1, NaN, infinity and a huge value with a
one-line error naming the flag, unless its declared bounds allow the value (issue: nothing
crashes). Parsing only: no command runs, nothing is written."""
import argparse

import pytest

from contextlm.cli import build_parser
from contextlm.settings import number

BAD = ["0", "-1", "nan", "inf", "1e30"]
# Feature values: their valid range depends on the feature (energy [0, 1], tempo [0, 300]),
# so they are finite numbers here and checked by contextlm.conditioning on the model's features.
FEATURE_VALUES = {"--energy", "--levels"}


def commands(parser=None, path=()):
    """(command words, parser) for every leaf command."""
    parser = parser or build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from commands(child, (*path, name))


def numeric_flags():
    for path, parser in commands():
        for action in parser._actions:
            if action.option_strings and action.type in (int, float) or isinstance(action.type, number):
                yield " ".join(path), action


FLAGS = list(numeric_flags())


def test_there_are_flags_to_check():
    names = {(cmd, a.option_strings[-1]) for cmd, a in FLAGS}
    assert ("train lm", "--emb-sz") in names and ("generate", "--top-p") in names and ("sample", "-n") in names
    assert ("train vae", "--kl-warmup") in names and ("fetch-features", "--max-wait") in names


@pytest.mark.parametrize("cmd, action", FLAGS, ids=[f"{c}{a.option_strings[-1]}" for c, a in FLAGS])
def test_numeric_flags_are_bounded_numbers(cmd, action):
    assert isinstance(action.type, number), f"{cmd} {action.option_strings[-1]}: plain {action.type}"
    if action.option_strings[-1] not in FEATURE_VALUES:
        assert action.type.max is not None, f"{cmd} {action.option_strings[-1]} has no upper bound"


def _allowed(t: number, text: str) -> bool:
    v = float(text)
    return (v == v and abs(v) != float("inf") and (t.kind is float or v == int(v))
            and (t.min is None or v >= t.min) and (t.gt is None or v > t.gt) and (t.max is None or v <= t.max))


@pytest.mark.parametrize("cmd, action", FLAGS, ids=[f"{c}{a.option_strings[-1]}" for c, a in FLAGS])
def test_bad_values_are_one_line_errors_naming_the_flag(cmd, action, capsys):
    flag = action.option_strings[-1]
    for value in BAD:
        argv = [*cmd.split(), f"{flag}={value}"]
        if _allowed(action.type, value):  # a documented value: it parses to itself
            assert action.type(value) == float(value)
            continue
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args(argv)
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and len(err.splitlines()) == 1, (argv, err)
        assert f"argument {flag}" in err or any(f"argument {o}" in err for o in action.option_strings), (argv, err)
        assert "Traceback" not in err
