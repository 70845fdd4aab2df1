"""`manage.py recommendations_export` into a folder: incremental training data for model/train.py.

The S3 side (uploads, multipart, a crash against a real S3-compatible server) is in
tests/app/test_export_s3.py; the watermark logic is the same for both destinations.
"""

import csv
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from model.data.interactions import read_interactions
from model.training.als import TrainingParams, fit
from recommendations.cache.access import get_cache
from recommendations.exceptions import ExportError
from recommendations.export.destinations import FolderDestination
from recommendations.export.run import LOCK_PREFIX, export_new
from recommendations.export.watermark import WATERMARK_NAME
from recommendations.models import Click
from recommendations.tasks import EXPORT_MAX_RETRIES, export_interactions
from recommendations.tracking.pseudonyms import pseudonym
from tests.app.shop.models import Category, Order, OrderLine, Product
from tests.support.factories import make_order, make_product

pytestmark = pytest.mark.django_db

BASE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def orders():
    """Three customers, four products, five orders: the expected rows, oldest first."""
    category = Category.objects.create(name="Tea", slug="tea")
    products = [
        Product.objects.create(
            category=category, name=f"Tea {n}", slug=f"tea-{n}", price=Decimal("3.50"), stock=10
        )
        for n in range(4)
    ]
    users = [get_user_model().objects.create_user(f"customer{n}", password="x") for n in range(3)]
    plan = [
        (users[0], 0, [(products[0], 1), (products[1], 2)]),
        (users[1], 1, [(products[1], 1)]),
        (users[0], 2, [(products[2], 3)]),
        (users[2], 3, [(products[0], 1), (products[3], 1)]),
        (users[1], 4, [(products[2], 1)]),
    ]
    expected = []
    for user, days, lines in plan:
        created_at = BASE + timedelta(days=days, seconds=0.25)
        order = Order.objects.create(user=user, created_at=created_at)
        for product, quantity in lines:
            OrderLine.objects.create(
                order=order, product=product, quantity=quantity, unit_price=product.price
            )
            expected.append(_row(user, product, quantity, created_at))
    return users, expected


def recommendations_settings(**overrides):
    """The shop's RECOMMENDATIONS with some entries changed."""
    return override_settings(RECOMMENDATIONS={**settings.RECOMMENDATIONS, **overrides})


def _row(user, product, quantity, created_at) -> dict:
    return {
        "user_id": pseudonym(user.pk),
        "item_id": str(product.pk),
        "weight": quantity,
        "timestamp": created_at.timestamp(),
    }


def _key(row: dict) -> tuple:
    return (row["timestamp"], row["item_id"], row["user_id"], float(row["weight"]))


def data_files(folder, stream="interactions"):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f"{stream}-"))


def jsonl_rows(folder, stream="interactions") -> list[dict]:
    rows = []
    for name in data_files(folder, stream):
        rows += [json.loads(line) for line in (folder / name).read_text().splitlines()]
    return rows


def line_pks() -> list[int]:
    return list(OrderLine.objects.order_by("pk").values_list("pk", flat=True))


def test_export_writes_pseudonymous_jsonl_named_by_id_range(tmp_path, orders, capsys):
    users, expected = orders
    call_command("recommendations_export", "--to", str(tmp_path))
    pks = line_pks()
    assert data_files(tmp_path) == [f"interactions-{1:012d}-{pks[-1]:012d}.jsonl"]
    rows = jsonl_rows(tmp_path)
    assert sorted(rows, key=_key) == sorted(expected, key=_key)
    # Only pseudonyms leave: no primary key or username of a customer.
    text = (tmp_path / data_files(tmp_path)[0]).read_text()
    assert {r["user_id"] for r in rows}.isdisjoint({str(u.pk) for u in users})
    assert not any(user.username in text for user in users)
    watermark = json.loads((tmp_path / WATERMARK_NAME).read_text())
    assert watermark["streams"]["interactions"] == {"exported_to": pks[-1], "pending": None}
    out = capsys.readouterr().out
    assert f"Exported {len(expected)} interactions and 0 clicks" in out
    # Nothing half-written is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*data_files(tmp_path), WATERMARK_NAME]
    )


def test_csv_export_has_the_same_rows(tmp_path, orders):
    _, expected = orders
    call_command("recommendations_export", "--to", str(tmp_path), "--format", "csv")
    (name,) = data_files(tmp_path)
    assert name.endswith(".csv")
    with (tmp_path / name).open(newline="") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
    assert reader.fieldnames == ["user_id", "item_id", "weight", "timestamp"]
    assert sorted(
        (float(r["timestamp"]), r["item_id"], r["user_id"], float(r["weight"])) for r in rows
    ) == sorted(_key(r) for r in expected)


def test_small_chunks_give_the_same_file(tmp_path, orders):
    call_command("recommendations_export", "--to", str(tmp_path / "big"))
    call_command("recommendations_export", "--to", str(tmp_path / "small"), "--chunk-size", "2")
    (big,) = data_files(tmp_path / "big")
    (small,) = data_files(tmp_path / "small")
    assert big == small
    assert (tmp_path / "big" / big).read_text() == (tmp_path / "small" / small).read_text()


def test_empty_shop_exports_nothing_and_says_the_adapter_yielded_nothing(tmp_path, capsys):
    call_command("recommendations_export", "--to", str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    out = capsys.readouterr().out
    assert f"Nothing new to export to {tmp_path}.\n" in out
    assert (
        f"The catalog adapter ({settings.RECOMMENDATIONS['CATALOG']}) yielded no interactions at "
        "all: the shop has no orders yet, or its interaction_chunks_after() returns none." in out
    )


def test_nothing_new_after_an_export_is_not_called_an_empty_adapter(tmp_path, orders, capsys):
    call_command("recommendations_export", "--to", str(tmp_path))
    call_command("recommendations_export", "--to", str(tmp_path))
    out = capsys.readouterr().out
    assert "Nothing new to export" in out
    assert "yielded no interactions" not in out
    assert "settle delay" not in out


def utc_text(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_a_fresh_shops_first_export_says_how_many_rows_wait_and_from_when(tmp_path, capsys):
    """A shop's first orders are minutes old: the export writes nothing and says why, and when."""
    customer = get_user_model().objects.create_user("first-customer", password="x")
    product = make_product()
    now = round(time.time())
    first = datetime.fromtimestamp(now - 120, tz=UTC)
    newest = datetime.fromtimestamp(now - 30, tz=UTC)
    make_order(customer, [product], created_at=first)
    make_order(customer, [product, make_product()], created_at=newest)
    with recommendations_settings(EXPORT_SETTLE_SECONDS=300):
        call_command("recommendations_export", "--to", str(tmp_path))
    out = capsys.readouterr().out
    assert "Nothing new to export" in out
    assert (
        "3 interactions wait for the settle delay (EXPORT_SETTLE_SECONDS, 300 s): a row younger "
        "than that, and every row recorded after it, waits for a later run. A run exports the "
        f"first of them from {utc_text(now - 120 + 300)} and all of them from "
        f"{utc_text(now - 30 + 300)}." in out
    )
    assert "yielded no interactions" not in out
    assert data_files(tmp_path) == []


def test_held_rows_are_counted_with_the_older_ones_recorded_after_them(tmp_path, orders):
    users, expected = orders
    product = make_product()
    now = time.time()
    recent = datetime.fromtimestamp(round(now) - 60, tz=UTC)
    make_order(users[0], [product], created_at=recent)
    make_order(users[1], [product], created_at=BASE)  # a bigger id, dated long ago: it waits too
    with recommendations_settings(EXPORT_SETTLE_SECONDS=300, EXPORT_CHUNK_SIZE=1):
        result = export_new(tmp_path, now=now)
    assert result.rows("interactions") == len(expected)
    held = result.held["interactions"]
    assert held.rows == 2
    assert held.first_exportable_at == held.all_exportable_at == recent.timestamp() + 300
    assert result.nothing_after == {"clicks": 0}


def test_the_daily_task_logs_how_many_rows_wait(tmp_path, orders, caplog):
    users, expected = orders
    recent = datetime.fromtimestamp(round(time.time()) - 10, tz=UTC)
    make_order(users[0], [make_product()], created_at=recent)
    with (
        recommendations_settings(EXPORT_DESTINATION=str(tmp_path), EXPORT_SETTLE_SECONDS=300),
        caplog.at_level("INFO", logger="recommendations.export.run"),
    ):
        assert export_interactions.apply().result == len(expected)
    (line,) = [r.getMessage() for r in caplog.records if "settle delay" in r.getMessage()]
    assert line.startswith(f"Export to {tmp_path}: 1 interaction waits for the settle delay")
    assert f"all of them from {utc_text(recent.timestamp() + 300)}." in line


def test_second_run_exports_only_what_is_new(tmp_path, orders):
    users, expected = orders
    call_command("recommendations_export", "--to", str(tmp_path))
    first_files = data_files(tmp_path)
    first_text = (tmp_path / first_files[0]).read_text()
    watermark_text = (tmp_path / WATERMARK_NAME).read_text()

    result = export_new(tmp_path)
    assert result.files == []
    assert (tmp_path / WATERMARK_NAME).read_text() == watermark_text  # not even rewritten

    product = make_product()
    created_at = BASE + timedelta(days=10)
    make_order(users[2], [product], quantity=2, created_at=created_at)
    result = export_new(tmp_path)
    pks = line_pks()
    assert [f.name for f in result.files] == [
        f"interactions-{pks[-2] + 1:012d}-{pks[-1]:012d}.jsonl"
    ]
    assert (tmp_path / first_files[0]).read_text() == first_text  # the old file is untouched
    new_row = _row(users[2], product, 2, created_at)
    assert sorted(jsonl_rows(tmp_path), key=_key) == sorted([*expected, new_row], key=_key)


def test_recent_interactions_wait_until_they_settle(tmp_path, orders):
    """A line younger than EXPORT_SETTLE_SECONDS stops the run, even before older lines after it:
    a transaction with a smaller id may still be committing."""
    users, expected = orders
    product = make_product()
    now = time.time()
    recent = datetime.fromtimestamp(round(now) - 60, tz=UTC)
    make_order(users[0], [product], created_at=recent)
    # Inserted after the recent one (bigger id) but dated long ago: it must wait as well.
    make_order(users[1], [product], created_at=BASE)
    with recommendations_settings(EXPORT_SETTLE_SECONDS=300):
        first = export_new(tmp_path, now=now)
        assert first.rows() == len(expected)
        assert export_new(tmp_path, now=now + 200).files == []
        later = export_new(tmp_path, now=now + 300)
    assert later.rows() == 2
    late_rows = [_row(users[0], product, 1, recent), _row(users[1], product, 1, BASE)]
    assert sorted(jsonl_rows(tmp_path), key=_key) == sorted([*expected, *late_rows], key=_key)


def test_since_leaves_out_older_interactions_and_moves_past_them(tmp_path, orders):
    _, expected = orders
    call_command("recommendations_export", "--to", str(tmp_path), "--since", "2025-03-03")
    cutoff = datetime(2025, 3, 3, tzinfo=UTC).timestamp()
    kept = [r for r in expected if r["timestamp"] >= cutoff]
    assert 0 < len(kept) < len(expected)
    assert sorted(jsonl_rows(tmp_path), key=_key) == sorted(kept, key=_key)
    # The older rows were passed over for good: without --since there is nothing new.
    assert export_new(tmp_path).files == []


def test_since_before_everything_new_only_moves_the_watermark(tmp_path, orders):
    call_command("recommendations_export", "--to", str(tmp_path), "--since", "2030-01-01T00:00")
    assert data_files(tmp_path) == []
    watermark = json.loads((tmp_path / WATERMARK_NAME).read_text())
    assert watermark["streams"]["interactions"]["exported_to"] == line_pks()[-1]


def test_bad_since_is_refused(tmp_path):
    with pytest.raises(CommandError, match="not an ISO 8601"):
        call_command("recommendations_export", "--to", str(tmp_path), "--since", "yesterday")


def _click(number: int, user=None, item_id: str = "7") -> Click:
    return Click.objects.create(
        click_id=f"click-{number}",
        impression_request_id=f"impression-{number}",
        item_id=item_id,
        position=1,
        pseudonym=pseudonym(user.pk) if user is not None else "",
        arm="model",
        source="model",
        created_at=BASE + timedelta(hours=number),
    )


def test_clicks_of_signed_in_users_are_exported_as_light_interactions(tmp_path, orders):
    users, expected = orders
    clicks = [_click(1, users[0], "11"), _click(2, None, "12"), _click(3, users[1], "13")]
    result = export_new(tmp_path)
    assert result.rows("interactions") == len(expected)
    assert data_files(tmp_path, "clicks") == [f"clicks-{1:012d}-{clicks[2].pk:012d}.jsonl"]
    assert sorted(jsonl_rows(tmp_path, "clicks"), key=_key) == sorted(
        [
            {
                "user_id": pseudonym(users[0].pk),
                "item_id": "11",
                "weight": 0.25,
                "timestamp": clicks[0].created_at.timestamp(),
            },
            {
                "user_id": pseudonym(users[1].pk),
                "item_id": "13",
                "weight": 0.25,
                "timestamp": clicks[2].created_at.timestamp(),
            },
        ],
        key=_key,
    )
    _click(4, users[2], "14")
    again = export_new(tmp_path)
    assert [(f.stream, f.rows) for f in again.files] == [("clicks", 1)]


def test_click_weight_zero_leaves_clicks_out(tmp_path, orders):
    users, _ = orders
    _click(1, users[0])
    with recommendations_settings(EXPORT_CLICK_WEIGHT=0):
        export_new(tmp_path)
    assert data_files(tmp_path, "clicks") == []


class Crash(Exception):
    """Stands for the process dying (killed, out of memory) at the point it is raised."""


class DiesAfterPublishing(FolderDestination):
    """A real folder destination whose process dies right after a data file is published:
    the file is in place, the watermark does not yet count it."""

    def publish(self, local_path, name):
        super().publish(local_path, name)
        raise Crash(name)


def test_crash_before_the_watermark_rewrites_the_same_file(tmp_path, orders):
    users, expected = orders
    with pytest.raises(Crash):
        export_new(DiesAfterPublishing(tmp_path))
    (name,) = data_files(tmp_path)
    watermark = json.loads((tmp_path / WATERMARK_NAME).read_text())
    assert watermark["streams"]["interactions"]["pending"]["name"] == name
    assert watermark["streams"]["interactions"]["exported_to"] == 0

    # New orders arrive before the next run: they must not widen the interrupted file.
    product = make_product()
    make_order(users[0], [product], created_at=BASE + timedelta(days=20))
    result = export_new(tmp_path)
    pks = line_pks()
    assert [f.name for f in result.files] == [
        name,
        f"interactions-{pks[-2] + 1:012d}-{pks[-1]:012d}.jsonl",
    ]
    assert data_files(tmp_path) == sorted(f.name for f in result.files)
    rows = jsonl_rows(tmp_path)
    assert len(rows) == len(expected) + 1  # every row exactly once
    new_row = _row(users[0], product, 1, BASE + timedelta(days=20))
    assert sorted(rows, key=_key) == sorted([*expected, new_row], key=_key)
    watermark = json.loads((tmp_path / WATERMARK_NAME).read_text())
    assert watermark["streams"]["interactions"] == {"exported_to": pks[-1], "pending": None}


def test_unreadable_watermark_stops_the_export(tmp_path, orders):
    (tmp_path / WATERMARK_NAME).write_text('{"format": 1, "streams": {"interactions": {}}}')
    with pytest.raises(ExportError, match="cannot be read") as caught:
        export_new(tmp_path)
    assert caught.value.retryable is False
    assert data_files(tmp_path) == []


def test_a_running_export_makes_the_next_one_wait(tmp_path, orders, capsys, monkeypatch):
    get_cache().add(LOCK_PREFIX + str(tmp_path.resolve()), "someone-else", 60)
    # The same folder by another name (relative, as `make retrain` gives it) is the same lock.
    monkeypatch.chdir(tmp_path.parent)
    call_command("recommendations_export", "--to", tmp_path.name)
    assert "Another export" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_unsupported_destination_is_refused(orders):
    with pytest.raises(CommandError, match="only s3://"):
        call_command("recommendations_export", "--to", "ftp://example.com/data")


def test_training_reads_the_export_folder_and_knows_the_customers(tmp_path, orders):
    users, expected = orders
    _click(1, users[0])
    call_command("recommendations_export", "--to", str(tmp_path))
    data = read_interactions(tmp_path)  # the watermark is not read as data
    assert len(data) == len(expected) + 1
    model = fit(data, TrainingParams(factors=4, iterations=3))
    assert all(model.knows_user(pseudonym(user.pk)) for user in users)
    assert not model.knows_user(str(users[0].pk))


def test_an_adapter_without_incremental_ids_says_what_is_missing(tmp_path):
    with (
        recommendations_settings(CATALOG="recommendations.catalog.CatalogAdapter"),
        pytest.raises(CommandError) as raised,
    ):
        call_command("recommendations_export", "--to", str(tmp_path))
    assert str(raised.value).startswith(
        "The catalog adapter CatalogAdapter yields no interactions: it does not implement "
        "interaction_chunks_after(), which the export reads"
    )
    assert data_files(tmp_path) == []


def test_the_daily_task_logs_a_missing_adapter_method_once_and_does_not_retry(
    tmp_path, orders, caplog
):
    with (
        recommendations_settings(
            CATALOG="recommendations.catalog.CatalogAdapter", EXPORT_DESTINATION=str(tmp_path)
        ),
        caplog.at_level("ERROR", logger="recommendations.tasks"),
    ):
        result = export_interactions.apply()
    assert result.successful() and result.result is None
    (record,) = caplog.records
    assert "does not implement interaction_chunks_after()" in record.getMessage()


def test_daily_task_exports_to_the_configured_folder(tmp_path, orders):
    _, expected = orders
    with recommendations_settings(EXPORT_DESTINATION=str(tmp_path / "daily")):
        assert export_interactions.apply().result == len(expected)
        assert export_interactions.apply().result == 0  # the next day: nothing new
    assert len(jsonl_rows(tmp_path / "daily")) == len(expected)


def test_daily_task_is_off_without_a_destination(orders):
    with recommendations_settings(EXPORT_DESTINATION=""):
        assert export_interactions.apply().result is None


def test_daily_task_retries_when_the_folder_cannot_be_written(tmp_path, orders):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the export folder should be")
    attempts = []
    original = export_new

    def counting(*args, **kwargs):
        attempts.append(1)
        return original(*args, **kwargs)

    with (
        recommendations_settings(EXPORT_DESTINATION=str(blocker / "training")),
        mock.patch("recommendations.export.run.export_new", counting),
    ):
        # Eager apply() runs every retry at once; the last one gives up with the error.
        result = export_interactions.apply()
    assert result.failed() and isinstance(result.result, OSError)
    assert len(attempts) == EXPORT_MAX_RETRIES + 1


def test_settle_seconds_zero_exports_everything_at_once(tmp_path, orders):
    users, expected = orders
    make_order(users[0], [make_product()])  # just now
    call_command("recommendations_export", "--to", str(tmp_path), "--settle-seconds", "0")
    assert len(jsonl_rows(tmp_path)) == len(expected) + 1


def _pending_watermark(name: str, first_id: int = 1, last_id: int = 5) -> dict:
    pending = {"name": name, "first_id": first_id, "last_id": last_id, "since": None}
    return {"format": 1, "streams": {"interactions": {"exported_to": 0, "pending": pending}}}


HOSTILE_NAMES = [
    "../escaped.jsonl",
    "../interactions-000000000001-000000000005.jsonl",
    "/tmp/interactions-000000000001-000000000005.jsonl",
    "sub/interactions-000000000001-000000000005.jsonl",
    "interactions-000000000001-000000000005.jsonl/../../escaped.jsonl",
    "..\\interactions-000000000001-000000000005.jsonl",
    "interactions-000000000001-000000000005.jsonl\x00.txt",
    "clicks-000000000001-000000000005.jsonl",  # another stream's name
    "interactions-000000000001-000000000009.jsonl",  # another id range
    "interactions-000000000001-000000000005.sh",
    "_watermark.json",
    "",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_watermark_naming_any_other_file_than_its_own_is_refused(name):
    from recommendations.export.watermark import Watermark

    with pytest.raises(ExportError, match="cannot be read") as caught:
        Watermark.from_json(_pending_watermark(name))
    assert caught.value.retryable is False


def test_a_watermark_naming_a_file_outside_the_destination_writes_nothing_there(tmp_path, orders):
    destination = tmp_path / "export"
    destination.mkdir()
    last = line_pks()[-1]
    name = f"../interactions-000000000001-{last:012d}.jsonl"
    (destination / WATERMARK_NAME).write_text(json.dumps(_pending_watermark(name, 1, last)))
    with pytest.raises(ExportError, match="cannot be read"):
        export_new(destination)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
    assert data_files(destination) == []


def test_the_name_the_export_plans_is_one_its_watermark_accepts(tmp_path, orders):
    from recommendations.export.watermark import Watermark

    with pytest.raises(Crash):
        export_new(DiesAfterPublishing(tmp_path))
    stored = json.loads((tmp_path / WATERMARK_NAME).read_text())
    pending = Watermark.from_json(stored).mark("interactions").pending
    assert pending is not None
    assert pending.name == data_files(tmp_path)[0]
