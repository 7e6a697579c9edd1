-- The fraud rules of the faust example service (examples/faust_service), one alert per match.
-- Input: JSON transactions {"card", "ts" (epoch ms), "amount", "kind": purchase | cancel},
-- keyed by card. MATCH_RECOGNIZE concatenation is strict contiguity, so the reluctant
-- filler X*? (no DEFINE: any row) lets other transactions of the card come in between.

-- A purchase below 1.00 followed by one above 500.00 on the same card within 10 minutes
-- (a card tested with a tiny amount, then used).
SELECT *
FROM transactions
MATCH_RECOGNIZE (
    PARTITION BY card
    ORDER BY ts
    MEASURES
        S.ts AS small_ts,
        S.amount AS small_amount,
        L.ts AS large_ts,
        L.amount AS large_amount
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (S X*? L) WITHIN INTERVAL '10' MINUTE
    DEFINE
        S AS kind = 'purchase' AND amount < 1.00,
        L AS kind = 'purchase' AND amount > 500.00
) AS small_then_large;

-- A purchase followed by a cancellation on the same card within 60 minutes (at most one alert
-- per cancellation).
SELECT *
FROM transactions
MATCH_RECOGNIZE (
    PARTITION BY card
    ORDER BY ts
    MEASURES
        P.ts AS purchase_ts,
        P.amount AS purchase_amount,
        C.ts AS cancel_ts,
        C.amount AS cancel_amount
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (P X*? C) WITHIN INTERVAL '60' MINUTE
    DEFINE
        P AS kind = 'purchase',
        C AS kind = 'cancel'
) AS purchase_then_cancel;
