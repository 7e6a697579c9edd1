-- A purchase followed by a cancellation from the same customer within 60 minutes.
SELECT *
FROM (SELECT * FROM retail WHERE customer_id <> -1)
MATCH_RECOGNIZE (
    PARTITION BY customer_id
    ORDER BY invoice_ts
    MEASURES
        P.invoice AS purchase_invoice,
        P.invoice_ts AS purchase_ts,
        C.invoice AS cancel_invoice,
        C.invoice_ts AS cancel_ts,
        C.stock_code AS cancelled_item,
        -C.quantity * C.price AS refund
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (P X*? C) WITHIN INTERVAL '60' MINUTE
    DEFINE
        P AS quantity > 0,
        C AS quantity < 0
) AS purchase_then_cancel
