"""collect's pure parts: sharding, the subscription plan, settings, and the backend adapters."""
import asyncio
import subprocess
import sys
from decimal import Decimal

import pytest
from cryptofeed.defines import CANDLES, FUNDING, L2_BOOK, TICKER, TRADES
from cryptofeed.types import Funding, OrderBook

from cryptofeed_backpack.backends import CHANNELS, KINDS, SequencedBook, backend_class
from cryptofeed_backpack.collect import CollectSettings, plan_subscription
from cryptofeed_backpack.errors import BackpackConfigError
from cryptofeed_backpack.sharding import Shard, shard_of

MAPPING = {"BTC-USDC-PERP": "BTC_USDC_PERP", "SOL-USDC": "SOL_USDC", "SOL-USDC-PERP": "SOL_USDC_PERP",
           "ETH-USDC": "ETH_USDC", "AAPL.US-USDC-PERP": "AAPL.US_USDC_PERP"}
SYMBOLS = [f"COIN{i}-USDC" for i in range(200)] + [f"COIN{i}-USDC-PERP" for i in range(200)]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_n_shards_cover_every_market_exactly_once(count):
    shards = [Shard(k, count).select(SYMBOLS) for k in range(1, count + 1)]
    assert sorted(s for shard in shards for s in shard) == sorted(SYMBOLS)
    assert all(shards) and max(map(len, shards)) - min(map(len, shards)) < len(SYMBOLS) // count // 2 + 10


def test_a_market_keeps_its_shard_whatever_else_is_listed_and_in_another_process():
    alone = Shard(2, 3).select(["SOL-USDC"] + SYMBOLS[:10])
    more = Shard(2, 3).select(SYMBOLS[:10] + ["SOL-USDC"] + SYMBOLS[10:50])
    assert ("SOL-USDC" in alone) == ("SOL-USDC" in more)
    code = "from cryptofeed_backpack.sharding import shard_of; print([shard_of(s, 5) for s in %r])" % SYMBOLS[:20]
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}).stdout
    assert other.strip() == str([shard_of(s, 5) for s in SYMBOLS[:20]])


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0", "/3"])
def test_bad_shard_specs_say_how(text):
    with pytest.raises(BackpackConfigError, match="K/N"):
        Shard.parse(text)


def settings(**section):
    base = {"symbols": "all", "channels": [TRADES, L2_BOOK, FUNDING], "backends": [{"type": "redis"}]}
    return CollectSettings.parse({**base, **section})


def test_plan_takes_both_symbol_forms_and_puts_funding_on_perpetuals_only():
    plan = plan_subscription(settings(symbols=["BTC_USDC_PERP", "SOL-USDC"]), MAPPING)
    assert plan == {TRADES: ["BTC-USDC-PERP", "SOL-USDC"], L2_BOOK: ["BTC-USDC-PERP", "SOL-USDC"], FUNDING: ["BTC-USDC-PERP"]}


def test_plan_of_all_markets_split_in_shards_is_all_markets():
    plans = [plan_subscription(settings(shard=f"{k}/2"), MAPPING) for k in (1, 2)]
    assert sorted(plans[0].get(TRADES, []) + plans[1].get(TRADES, [])) == sorted(MAPPING)


def test_unknown_symbol_and_bad_settings_are_config_errors():
    with pytest.raises(BackpackConfigError, match="markets"):
        plan_subscription(settings(symbols=["NOPE-USDC"]), MAPPING)
    with pytest.raises(BackpackConfigError, match="channels"):
        settings(channels=["order_info"])
    with pytest.raises(BackpackConfigError, match="backend"):
        settings(backends=[])
    with pytest.raises(BackpackConfigError, match="not a collect option"):
        settings(symbol="SOL-USDC")
    with pytest.raises(BackpackConfigError, match="unknown backend"):
        backend_class("mysql", TRADES)


@pytest.mark.parametrize("value", [-1, "10", True, float("nan"), float("inf"), None])
def test_a_bad_stop_drain_names_the_option_and_what_it_means(value):
    with pytest.raises(BackpackConfigError, match=r"collect\.stop_drain_s.*backends to write") as err:
        settings(stop_drain_s=value)
    assert repr(value) in str(err.value)


def test_stop_drain_defaults_to_ten_seconds_and_takes_a_number():
    assert settings().stop_drain_s == 10.0
    assert settings(stop_drain_s=0).stop_drain_s == 0.0 and settings(stop_drain_s=2.5).stop_drain_s == 2.5


def test_every_backend_kind_has_a_class_per_channel_or_names_what_to_install():
    for kind in KINDS:
        for channel in (TRADES, L2_BOOK, TICKER, CANDLES, FUNDING):
            try:
                cls = backend_class(kind, channel)
            except BackpackConfigError as exc:
                assert "install" in str(exc) or "pip" in str(exc)
                continue
            assert issubclass(cls, SequencedBook) == (channel == L2_BOOK)


def test_book_records_carry_the_sequence_number():
    backend = backend_class("socket", L2_BOOK)("tcp://127.0.0.1", port=1, numeric_type=str)
    backend.multiprocess, backend.queue = False, asyncio.Queue()
    book = OrderBook("BACKPACK", "SOL-USDC", bids={Decimal("10.5"): Decimal("2")}, asks={Decimal("11"): Decimal("1")})
    book.sequence_number, book.timestamp = 1234, 1700000000.5

    async def write_one():
        book.delta = None
        await backend(book, 1700000001.0)
        book.delta, book.sequence_number = {"bid": [(Decimal("10.5"), Decimal("0"))], "ask": []}, 1235
        await backend(book, 1700000002.0)
        return [backend.queue.get_nowait() for _ in range(backend.queue.qsize())]

    snapshot, delta = asyncio.run(write_one())
    assert snapshot["sequence_number"] == 1234 and snapshot["prev_sequence_number"] is None
    assert snapshot["book"]["bid"] == {"10.5": "2"}
    assert delta["sequence_number"] == 1235 and delta["prev_sequence_number"] == 1234
    assert delta["delta"]["bid"] == [("10.5", "0")]


def test_postgres_funding_row_without_predicted_rate_is_null_not_a_dead_writer():
    pytest.importorskip("asyncpg")
    backend = backend_class("postgres", FUNDING)(numeric_type=str)
    record = Funding("BACKPACK", "BTC-USDC-PERP", Decimal("100.5"), Decimal("0.0001"), None, 1700000000.0).to_dict(numeric_type=str)
    row = backend.format(("BACKPACK", "BTC-USDC-PERP", "2023-11-14 22:13:20", "2023-11-14 22:13:21", record))
    assert row == "('2023-11-14 22:13:20','2023-11-14 22:13:21','BACKPACK','BTC-USDC-PERP','100.5','0.0001',NULL,NULL)"
    assert backend.insert_statement.startswith("INSERT INTO funding (timestamp,receipt_timestamp,exchange,symbol,mark_price")


def test_kafka_and_zmq_classes_build_at_the_client_libraries_their_extras_install():
    # the dev environment installs cryptofeed[kafka] and cryptofeed[zmq], as the extras do for a user
    for kind, options in (("kafka", {"bootstrap_servers": "127.0.0.1:9092"}), ("zmq", {"host": "127.0.0.1", "port": 5555})):
        for channel in CHANNELS:
            backend = backend_class(kind, channel)(numeric_type=str, **options)
            assert backend.numeric_type is str and hasattr(backend, "writer"), (kind, channel)
            assert isinstance(backend, SequencedBook) == (channel == L2_BOOK)
