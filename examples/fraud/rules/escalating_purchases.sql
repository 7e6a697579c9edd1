-- Three consecutive purchase lines of a customer, each worth at least four times the line
-- before it (PREV navigates to the previous row of the customer), within 30 minutes.
SELECT *
FROM (SELECT * FROM retail WHERE customer_id <> -1)
MATCH_RECOGNIZE (
    PARTITION BY customer_id
    ORDER BY invoice_ts
    MEASURES
        FIRST(A.invoice) AS first_invoice,
        LAST(B.invoice) AS last_invoice,
        FIRST(A.quantity * A.price) AS first_amount,
        LAST(B.quantity * B.price) AS last_amount,
        LAST(B.invoice_ts) AS last_ts
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (A B{2}) WITHIN INTERVAL '30' MINUTE
    DEFINE
        A AS quantity > 0 AND price > 0,
        B AS quantity > 0 AND quantity * price >= 4 * PREV(quantity) * PREV(price)
) AS escalating_purchases
