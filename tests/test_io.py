"""Reading tables: every unreadable file is one line naming the file, the line or item,
and what to pass or change instead."""
import codecs

import pandas as pd
import pytest

from contextlm.data.io import read_table
from contextlm.errors import CorpusError

CSV = "text,energy\ncafé song,0.5\nloud song,0.9\n"


def _write(path, data):
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def _one_line_error(path, pattern, **kwargs):
    with pytest.raises(CorpusError, match=pattern) as info:
        read_table(path, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("encoding", ["nosuch", "rot13"])
def test_unknown_or_non_text_encoding_is_a_usage_error(tmp_path, encoding):
    path = _write(tmp_path / "c.csv", CSV)
    _one_line_error(path, rf"unknown --encoding '{encoding}'.*utf-8", encoding=encoding)


@pytest.mark.parametrize("data, codec", [
    (CSV.encode("utf-16"), "utf-16"),  # with a byte-order mark
    (CSV.encode("utf-32"), "utf-32"),
    (CSV.encode("utf-16-le"), "utf-16-le"),  # without one: found from where the NUL bytes fall
    (CSV.encode("utf-16-be"), "utf-16-be"),
    (CSV.encode("utf-32-le"), "utf-32-le"),
], ids=["utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le"])
@pytest.mark.parametrize("given", ["utf-8", "latin-1"])
def test_utf16_and_utf32_files_are_named_with_the_codec_to_pass(tmp_path, data, codec, given):
    path = _write(tmp_path / "wide.csv", data)
    message = _one_line_error(path, rf"wide\.csv: .*pass --encoding {codec}$", encoding=given)
    assert "latin-1" not in message.replace(f"not {given}", "")
    assert read_table(path, encoding=codec)["text"].tolist() == ["café song", "loud song"]


def test_windows_1252_bytes_suggest_cp1252_with_the_line(tmp_path):
    path = _write(tmp_path / "win.csv", "text,energy\nfine,0.5\n“quoted” café,0.3\n".encode("cp1252"))
    _one_line_error(path, r"win\.csv: line 3: bytes b'\\x93' are not valid utf-8; .*--encoding cp1252")
    assert read_table(path, encoding="cp1252")["text"].tolist() == ["fine", "“quoted” café"]


def test_mostly_utf8_with_a_stray_byte_is_not_called_latin1(tmp_path):
    path = _write(tmp_path / "mixed.csv", "text,energy\ncafé,0.5\n".encode() + b"bad \xff byte,0.3\n")
    message = _one_line_error(path, r"mixed\.csv: line 3: bytes b'\\xff' are not valid utf-8")
    assert "cp1252" not in message and "latin-1" not in message


def test_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    for suffix in (".csv", ".jsonl", ".json", ".txt"):
        body = {".csv": CSV, ".txt": "café song\n", ".jsonl": '{"text": "café song"}\n',
                ".json": '[{"text": "café song"}]'}[suffix]
        df = read_table(_write(tmp_path / f"bom{suffix}", codecs.BOM_UTF8 + body.encode()))
        assert df.columns[0] == "text" and df["text"][0] == "café song", suffix


def test_binary_file_with_a_text_suffix_is_not_a_text_file(tmp_path):
    path = tmp_path / "sheet.csv"
    pd.DataFrame({"text": ["a"], "energy": [0.5]}).to_parquet(path)
    _one_line_error(path, r"sheet\.csv: line \d+: NUL byte, which text never holds \(a binary file named \.csv")


@pytest.mark.parametrize("name, body, pattern", [
    ("tabs.csv", "text\tenergy\nhello, world\t0.5\n",
     r"tabs\.csv: line 1: looks tab-separated, but a \.csv file is comma-separated; rename it \.tsv$"),
    ("commas.tsv", "text,energy\nhello,0.5\n",
     r"commas\.tsv: line 1: looks comma-separated, but a \.tsv file is tab-separated; rename it \.csv$"),
    ("semi.csv", "text;energy\nhello;0.5\n",
     r"semi\.csv: line 1: looks semicolon-separated, .*; re-save it comma-separated"),
])
def test_a_file_separated_otherwise_than_its_suffix_says_is_named(tmp_path, name, body, pattern):
    _one_line_error(_write(tmp_path / name, body), pattern)


def test_one_column_csv_with_commas_in_no_field_is_fine(tmp_path):
    assert read_table(_write(tmp_path / "one.csv", "text\nhello\n"))["text"].tolist() == ["hello"]


@pytest.mark.parametrize("body, line", [
    ("text,energy\nhello, world,0.5\nbye,0.2\n", 2),  # pandas would make 'hello' an index, silently
    ("text,energy\nhello,0.5\nbye, now,0.2\n", 3),
])
def test_a_row_with_more_fields_than_the_header_names_the_line(tmp_path, body, line):
    _one_line_error(_write(tmp_path / "c.csv", body),
                    rf"c\.csv: line {line}: 3 fields but the header has 2; quote text that holds a comma")


@pytest.mark.parametrize("name, body, pattern", [
    ("dup.csv", "text,energy,energy\nhi,0.5,0.7\n", r"dup\.csv: line 1: column 'energy' appears more than once"),
    ("dup.tsv", "energy\ttext\tenergy\n0.5\thi\t0.7\n", r"dup\.tsv: line 1: column 'energy' appears more than once"),
    ("dup.jsonl", '{"text": "a", "energy": 0.5}\n{"text": "b", "energy": 0.5, "energy": 0.7}\n',
     r"dup\.jsonl: line 2: column 'energy' appears more than once"),
    ("dup.json", '[{"text": "a", "energy": 0.5, "energy": 0.7}]',
     r"dup\.json: column 'energy' appears more than once"),
])
def test_duplicate_column_names_are_an_error(tmp_path, name, body, pattern):
    _one_line_error(_write(tmp_path / name, body), pattern)


def test_duplicate_parquet_columns_are_an_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array(["a"]), pa.array([0.5]), pa.array([0.7])], names=["text", "energy", "energy"]),
                   path)
    _one_line_error(path, r"dup\.parquet: column 'energy' appears more than once")


def test_blank_column_names_may_repeat(tmp_path):
    df = read_table(_write(tmp_path / "c.csv", "text,,\nhi,1,2\n"))
    assert df.columns[0] == "text" and len(df.columns) == 3


@pytest.mark.parametrize("name, body, pattern", [
    ("ints.json", "[1, 2]", r"ints\.json: item 1: 1 is not an object"),
    ("strs.json", '[{"text": "a"}, "b"]', r"strs\.json: item 2: 'b' is not an object"),
    ("lines.jsonl", '{"text": "a"}\n[1]\n', r"lines\.jsonl: line 2: \[1\] is not an object"),
    ("scalars.jsonl", "1\n2\n", r"scalars\.jsonl: line 1: 1 is not an object"),
])
def test_json_records_must_be_objects(tmp_path, name, body, pattern):
    _one_line_error(_write(tmp_path / name, body), pattern)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".txt", ".parquet"])
def test_empty_file_is_named(tmp_path, suffix):
    _one_line_error(_write(tmp_path / f"empty{suffix}", b""), rf"empty\{suffix}: empty file")
    _one_line_error(_write(tmp_path / f"blank{suffix}", b"\n  \n"), rf"blank\{suffix}: empty file")


def test_missing_file_and_folder_are_named(tmp_path):
    _one_line_error(tmp_path / "nope.csv", r"nope\.csv: no such file")
    (tmp_path / "data.csv").mkdir()
    _one_line_error(tmp_path / "data.csv", r"data\.csv: is a folder, expected a file")


def test_typed_formats_are_marked_so_strings_are_not_taken_for_numbers(tmp_path):
    df = pd.DataFrame({"text": ["a"], "energy": [0.5]})
    df.to_csv(tmp_path / "c.csv", index=False)
    df.to_parquet(tmp_path / "c.parquet")
    df.to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    assert not read_table(tmp_path / "c.csv").attrs.get("typed")
    assert read_table(tmp_path / "c.parquet").attrs["typed"] and read_table(tmp_path / "c.jsonl").attrs["typed"]
