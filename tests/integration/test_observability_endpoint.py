import aiohttp
import pytest
from cryptofeed.defines import L2_BOOK, TRADES

from cryptofeed_backpack.endpoint import serve_observability
from cryptofeed_backpack.simulator import BackpackSimulator
from tests.integration.feed_harness import running_feed, wait_until

pytestmark = [pytest.mark.integration]


async def test_metrics_and_health_endpoints_report_a_live_feed(clean_symbols):
    async with BackpackSimulator(symbols=["SOL_USDC"], seed=1, rate=200) as sim:
        async with running_feed(sim, ["SOL-USDC"], [TRADES, L2_BOOK]) as (feed, rec):
            assert await wait_until(lambda: feed.book_state("SOL_USDC") is not None and feed.book_state("SOL_USDC").synced)
            server = await serve_observability([feed])
            try:
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"http://127.0.0.1:{server.port}/metrics") as resp:
                        text = await resp.text()
                        assert resp.status == 200
                    async with http.get(f"http://127.0.0.1:{server.port}/health") as resp:
                        body = await resp.json()
                        status = resp.status
            finally:
                await server.close()
    messages = [line for line in text.splitlines() if line.startswith("backpack_ws_messages_total ")]
    assert messages and int(messages[0].split()[1]) > 0
    assert "backpack_book_snapshots_total 1" in text
    assert status == 200 and body["status"] == "ok"
    assert body["feeds"]["backpack"]["details"]["books"]["SOL_USDC"]["synced"] is True
