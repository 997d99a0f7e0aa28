-- Tables for `cryptofeed-backpack collect` with a postgres backend (docs/collect.md).
-- Column names follow cryptofeed's Postgres backend; the table names are its defaults.
-- PostgreSQL 15 or newer (UNIQUE NULLS NOT DISTINCT). Idempotent: safe to run again.
--
-- Each unique key is the record's identity, so a replayed or doubly collected record is skipped
-- (the collector inserts with ON CONFLICT DO NOTHING). receipt_timestamp is never part of a key:
-- two redundant collectors receive the same record at different times.
-- Prices, amounts and open interest are NUMERIC: Backpack's decimals stay exact (open interest is
-- fractional, e.g. 1234.56 BTC).

CREATE TABLE IF NOT EXISTS trades (
    timestamp TIMESTAMP(6) NOT NULL,
    receipt_timestamp TIMESTAMP(6) NOT NULL,
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    amount NUMERIC NOT NULL,
    price NUMERIC NOT NULL,
    id TEXT NOT NULL,            -- Backpack trade id `t`: increases by one per trade and market
    type TEXT,
    PRIMARY KEY (exchange, symbol, id)
);

CREATE TABLE IF NOT EXISTS book (
    timestamp TIMESTAMP(6) NOT NULL,
    receipt_timestamp TIMESTAMP(6) NOT NULL,
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    sequence_number BIGINT,      -- Backpack update id `u` (a snapshot: its lastUpdateId)
    prev_sequence_number BIGINT, -- sequence_number of the record before it for this symbol: no such row = a loss
    kind TEXT NOT NULL,          -- 'snapshot' or 'delta'
    data JSONB NOT NULL,         -- {"snapshot": {"bid": {price: size}, "ask": {...}}} or {"delta": {"bid": [[price, size]], ...}}
    UNIQUE NULLS NOT DISTINCT (exchange, symbol, sequence_number, kind)
);

CREATE TABLE IF NOT EXISTS ticker (
    timestamp TIMESTAMP(6) NOT NULL,
    receipt_timestamp TIMESTAMP(6) NOT NULL,
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    bid NUMERIC,
    ask NUMERIC,
    UNIQUE NULLS NOT DISTINCT (exchange, symbol, timestamp, bid, ask)
);

CREATE TABLE IF NOT EXISTS candles (
    timestamp TIMESTAMP(6) NOT NULL,
    receipt_timestamp TIMESTAMP(6) NOT NULL,
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    start TIMESTAMP(6) NOT NULL,
    stop TIMESTAMP(6) NOT NULL,
    interval TEXT NOT NULL,
    trades BIGINT,
    open NUMERIC NOT NULL,
    close NUMERIC NOT NULL,
    high NUMERIC NOT NULL,
    low NUMERIC NOT NULL,
    volume NUMERIC NOT NULL,
    closed BOOLEAN,
    UNIQUE NULLS NOT DISTINCT (exchange, symbol, interval, start, timestamp, trades, open, close, high, low, volume, closed)
);

CREATE TABLE IF NOT EXISTS funding (
    timestamp TIMESTAMP(6) NOT NULL,
    receipt_timestamp TIMESTAMP(6) NOT NULL,
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    mark_price NUMERIC,
    rate NUMERIC NOT NULL,
    next_funding_time TIMESTAMP(6),
    predicted_rate NUMERIC,      -- Backpack publishes none: always NULL
    UNIQUE NULLS NOT DISTINCT (exchange, symbol, timestamp, mark_price, rate, next_funding_time)
);

CREATE TABLE IF NOT EXISTS open_interest (
    timestamp TIMESTAMP(6) NOT NULL,
    receipt_timestamp TIMESTAMP(6) NOT NULL,
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    open_interest NUMERIC NOT NULL,
    UNIQUE (exchange, symbol, timestamp, open_interest)
);

CREATE TABLE IF NOT EXISTS liquidations (
    timestamp TIMESTAMP(6) NOT NULL,
    receipt_timestamp TIMESTAMP(6) NOT NULL,
    exchange TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity NUMERIC NOT NULL,
    price NUMERIC NOT NULL,
    id TEXT,
    status TEXT,
    UNIQUE NULLS NOT DISTINCT (exchange, symbol, timestamp, side, quantity, price, id)
);
