-- Views over the Online Retail line items (table retail.lines, loaded by
--   dwh-import load-csv online-retail.csv.gz --table retail.lines --row-number line_no \
--     --change-timestamp loaded_at --type UnitPrice=DECIMAL(12,3) --type CustomerID=VARCHAR --run-sql views.sql
-- ) that shape them into events. Money stays exact: UnitPrice is DECIMAL(12,3), so are the values.

-- One row per line item of an order. Cancellation lines (InvoiceNo 'C...') are left out here: they
-- become "Cancelled Order" events of the per-invoice view below, so they never count as orders.
CREATE OR REPLACE VIEW retail.ordered_products AS
SELECT
  InvoiceNo || '/' || line_no                 AS line_id,      -- unique_id: stable across reloads of the file
  line_no,                                                     -- tie-break key (all rows share loaded_at)
  InvoiceNo                                   AS invoice_no,
  StockCode                                   AS stock_code,
  trim(Description)                           AS description,
  Quantity                                    AS quantity,
  UnitPrice                                   AS unit_price,
  (Quantity * UnitPrice)::DECIMAL(18, 3)      AS line_value,
  'GBP'                                       AS currency,
  InvoiceDate                                 AS invoiced_at,  -- zone-less: read as Europe/London
  CustomerID                                  AS customer_id,  -- '17850.0' in the file: sent as external_id 17850
  Country                                     AS country,
  loaded_at
FROM retail.lines
WHERE InvoiceNo NOT LIKE 'C%';

-- One row per invoice: "Placed Order", or "Cancelled Order" for a cancellation (InvoiceNo 'C...'),
-- with the lines as a JSON array property. The value of a cancellation is the cancelled amount,
-- positive (the lines carry negative quantities).
CREATE OR REPLACE VIEW retail.orders AS
SELECT
  InvoiceNo                                                          AS invoice_no,
  CASE WHEN InvoiceNo LIKE 'C%' THEN 'Cancelled Order' ELSE 'Placed Order' END AS metric,
  any_value(CustomerID)                                              AS customer_id,
  min(InvoiceDate)                                                   AS invoiced_at,
  max(loaded_at)                                                     AS loaded_at,
  abs(sum(Quantity * UnitPrice))::DECIMAL(18, 3)                     AS order_value,
  'GBP'                                                              AS currency,
  any_value(Country)                                                 AS country,
  count(*)                                                           AS line_count,
  abs(sum(Quantity))                                                 AS item_count,
  to_json(list({'stock_code': StockCode, 'description': trim(Description),
                'quantity': Quantity, 'unit_price': UnitPrice} ORDER BY line_no)) AS items
FROM retail.lines
GROUP BY InvoiceNo;
