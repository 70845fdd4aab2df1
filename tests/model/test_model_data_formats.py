"""The public rating formats: `user item rating timestamp` files and CSV with named columns."""

import gzip

import pytest

from model.data.formats import parse_columns
from model.data.interactions import DataError, read_interactions
from model.data.synthetic import taste_interactions
from model.evaluation import offline as evaluate_cli

# MovieLens 100k's u.data layout: tab separated, no header.
U_DATA = (
    "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n244\t51\t5\t880606923\n"
)
# MovieLens 1M's ratings.dat layout: "::" separated.
RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n2::1357::4::978298486\n"
# MovieLens' newer ratings.csv layout: a header naming the columns, ratings in halves.
RATINGS_CSV = (
    "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,3.5,964981247\n2,6,4.5,964982224\n"
)


def test_ratings_file_keeps_rows_at_or_above_the_threshold(tmp_path):
    (tmp_path / "u.data").write_text(U_DATA)
    interactions = read_interactions(tmp_path / "u.data", rating_threshold=3)
    assert interactions.user_ids.tolist() == ["196", "186", "244"]
    assert interactions.item_ids.tolist() == ["242", "302", "51"]
    assert interactions.weights.tolist() == [1.0, 1.0, 1.0]
    assert interactions.timestamps.tolist() == [881250949.0, 891717742.0, 880606923.0]
    assert len(read_interactions(tmp_path / "u.data")) == 4  # no threshold: every rating counts


def test_double_colon_ratings_and_gzip_and_folders_read_with_format_ratings(tmp_path):
    with gzip.open(tmp_path / "ratings.dat.gz", "wt") as stream:
        stream.write(RATINGS_DAT)
    interactions = read_interactions(tmp_path, file_format="ratings", rating_threshold=4)
    pairs = zip(interactions.user_ids.tolist(), interactions.item_ids.tolist(), strict=True)
    assert list(pairs) == [
        ("1", "1193"),
        ("2", "1357"),
    ]


def test_csv_with_named_columns_and_threshold(tmp_path):
    (tmp_path / "ratings.csv").write_text(RATINGS_CSV)
    columns = parse_columns("user=userId,item=movieId,rating=rating,timestamp=timestamp")
    interactions = read_interactions(tmp_path / "ratings.csv", rating_threshold=4, columns=columns)
    assert interactions.user_ids.tolist() == ["1", "2"]
    assert interactions.item_ids.tolist() == ["1", "6"]
    assert interactions.timestamps.tolist() == [964982703.0, 964982224.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user=userId", "lacks item"),
        ("user=userId,item=movieId,score=rating", "bad column mapping 'score=rating'"),
        ("user=userId,item", "bad column mapping 'item'"),
    ],
)
def test_bad_column_mappings_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_columns(text)


@pytest.mark.parametrize(
    ("name", "content", "options", "message"),
    [
        ("r.csv", RATINGS_CSV, {"columns": {"user": "uid", "item": "movieId"}}, "header lacks uid"),
        (
            "r.csv",
            RATINGS_CSV,
            {"columns": {"user": "userId", "item": "movieId"}, "rating_threshold": 4},
            "needs the rating column",
        ),
        (
            "r.csv",
            "userId,movieId,rating\n1,2,lots\n",
            {"columns": {"user": "userId", "item": "movieId", "rating": "rating"}},
            r"r\.csv:2: bad row",
        ),
        ("u.data", "1\t2\tfive\t3\n", {}, r"u\.data:1: bad row"),
        ("u.data", "1\t2\n", {}, "expected user item rating"),
        (
            "x.jsonl",
            '{"user_id": "u", "item_id": "1"}\n',
            {"rating_threshold": 4},
            "needs rating data",
        ),
        ("r.csv", RATINGS_CSV, {"file_format": "csv"}, "--format csv needs --columns"),
    ],
)
def test_bad_rating_data_is_a_data_error_naming_the_problem(
    tmp_path, name, content, options, message
):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        read_interactions(tmp_path / name, **options)


def test_evaluate_cli_reads_a_ratings_file_with_a_threshold(tmp_path, capsys):
    data = taste_interactions(num_users=80, num_items=30, num_categories=3, seed=2)
    rows = []
    for n, (user, item, timestamp) in enumerate(
        zip(data.user_ids.tolist(), data.item_ids.tolist(), data.timestamps.tolist(), strict=True)
    ):
        # Every third row rated 2: below the threshold, so dropped.
        rows.append(f"{user}\t{item}\t{2 if n % 3 == 0 else 5}\t{int(timestamp)}\n")
    (tmp_path / "u.data").write_text("".join(rows))
    options = ["--data", str(tmp_path / "u.data"), "--rating-threshold", "4", "--model", "ease"]
    assert evaluate_cli.main([*options, "--ease-lambda", "10"]) == 0
    out = capsys.readouterr().out
    kept = len(rows) - len(range(0, len(rows), 3))
    assert out.startswith(f"{kept:,} interactions")
    assert "* ease lambda=10" in out


def test_evaluate_cli_reads_named_csv_columns(tmp_path, capsys):
    data = taste_interactions(num_users=80, num_items=30, num_categories=3, seed=4)
    lines = ["rating,movie,who,when"]
    for user, item, timestamp in zip(
        data.user_ids.tolist(), data.item_ids.tolist(), data.timestamps.tolist(), strict=True
    ):
        lines.append(f"4.5,{item},{user},{timestamp}")
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    columns = "user=who,item=movie,rating=rating,timestamp=when"
    options = ["--data", str(tmp_path / "r.csv"), "--columns", columns, "--rating-threshold", "4"]
    assert evaluate_cli.main([*options, "--model", "als", "--factors", "4"]) == 0
    assert capsys.readouterr().out.startswith(f"{len(data):,} interactions")
