-- A small paid purchase line (under 2 GBP) followed by a large one (200 GBP or more) on
-- another invoice of the same customer within 10 minutes: "test the card, then spend".
SELECT *
FROM (SELECT * FROM retail WHERE customer_id <> -1)
MATCH_RECOGNIZE (
    PARTITION BY customer_id
    ORDER BY invoice_ts
    MEASURES
        S.invoice AS small_invoice,
        S.quantity * S.price AS small_amount,
        L.invoice AS large_invoice,
        L.quantity * L.price AS large_amount,
        L.invoice_ts AS large_ts
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (S X*? L) WITHIN INTERVAL '10' MINUTE
    DEFINE
        S AS quantity > 0 AND price > 0 AND quantity * price < 2,
        L AS quantity > 0 AND quantity * price >= 200 AND invoice <> S.invoice
) AS small_then_large
