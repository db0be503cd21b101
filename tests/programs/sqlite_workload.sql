-- The SQLite workload of run-program-test, fed on standard input to Debian's unmodified sqlite3
-- shell with a fresh database file: tables of 300,000 rows in all, made by recursive CTEs, indexes,
-- joins, group-bys, window functions, big sorts, JSON, updates, deletes, VACUUM and an integrity
-- check. Every sqlite3_malloc goes to the process's malloc (Debian's libsqlite3 uses the system
-- allocator), so the page cache, the sorter, the parser and every row value test the allocator.
--
-- The output must be the same on glibc and on the allocator under test, so it uses nothing that
-- changes from run to run: no random(), randomblob() or current time (pseudo-random values are
-- multiplicative hashes of the row number), and every query that prints rows has an ORDER BY that
-- decides the order completely. Big results are printed as sha3 checksums (sha3_query is built into
-- the shell) rather than row by row.

.bail on
.headers on
.mode list
.nullvalue NULL

PRAGMA page_size = 4096;
-- A large page cache keeps most of the database in malloc'ed pages instead of re-reading it.
PRAGMA cache_size = -32000;
PRAGMA temp_store = MEMORY;

CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  region TEXT NOT NULL,
  tier INTEGER NOT NULL,
  bio TEXT
);
CREATE TABLE products (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  price_cents INTEGER NOT NULL,
  attributes TEXT  -- JSON
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  product_id INTEGER NOT NULL REFERENCES products(id),
  quantity INTEGER NOT NULL,
  day INTEGER NOT NULL,
  note TEXT
);

BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)
INSERT INTO customers
SELECT i,
       printf('customer-%06d', (i * 7919) % 1000003),
       CASE i % 7 WHEN 0 THEN 'north' WHEN 1 THEN 'south' WHEN 2 THEN 'east' WHEN 3 THEN 'west'
                  WHEN 4 THEN 'centre' WHEN 5 THEN 'islands' ELSE 'abroad' END,
       (i * 31) % 5,
       CASE WHEN i % 3 = 0 THEN NULL
            ELSE substr('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor',
                        1 + i % 20, 10 + (i * 13) % 60) END
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO products
SELECT i,
       'product ' || i || ' ' || substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26, 1 + i % 9),
       100 + (i * 104729) % 99900,
       json_object('colour', CASE i % 4 WHEN 0 THEN 'red' WHEN 1 THEN 'green' WHEN 2 THEN 'blue'
                                        ELSE 'black' END,
                   'weight_g', (i * 37) % 5000,
                   'tags', json_array('t' || (i % 10), 't' || (i % 13), 't' || (i % 17)))
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250000)
INSERT INTO orders
SELECT i,
       1 + (i * 2654435761) % 40000,
       1 + (i * 40503) % 5000,
       1 + (i * 13) % 9,
       (i * 97) % 3650,
       CASE WHEN i % 5 = 0 THEN printf('%.*c', 1 + (i * 7) % 300, 'x') ELSE NULL END
FROM n;
COMMIT;

SELECT 'rows' AS what, (SELECT count(*) FROM customers) AS customers,
       (SELECT count(*) FROM products) AS products, (SELECT count(*) FROM orders) AS orders;

-- Aggregates over a full scan, before any index exists.
SELECT region, count(*) AS n, sum(tier) AS tiers, min(name) AS first, max(name) AS last,
       sum(length(bio)) AS bio_chars, count(bio) AS with_bio
FROM customers GROUP BY region ORDER BY region;

-- A join and group-by whose sort has to hold 250,000 rows.
SELECT c.region, p.id % 4 AS colour_bucket, count(*) AS orders, sum(o.quantity * p.price_cents) AS revenue
FROM orders o JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = o.product_id
GROUP BY c.region, colour_bucket ORDER BY c.region, colour_bucket;

CREATE INDEX orders_by_customer ON orders(customer_id, day);
CREATE INDEX orders_by_product ON orders(product_id);
CREATE INDEX customers_by_region ON customers(region, tier);
CREATE UNIQUE INDEX customers_by_name ON customers(name, id);

-- Top customers by spend: index lookups, then a sort on the aggregate.
SELECT c.id, c.name, count(*) AS orders, sum(o.quantity * p.price_cents) AS spent
FROM customers c JOIN orders o ON o.customer_id = c.id JOIN products p ON p.id = o.product_id
WHERE c.region IN ('north', 'islands')
GROUP BY c.id ORDER BY spent DESC, c.id LIMIT 15;

-- Window functions: ranking within regions and a running total.
SELECT region, name, spent, rank_in_region, running
FROM (
  SELECT c.region, c.name, sum(o.quantity) AS spent,
         rank() OVER (PARTITION BY c.region ORDER BY sum(o.quantity) DESC, c.name) AS rank_in_region,
         sum(sum(o.quantity)) OVER (PARTITION BY c.region ORDER BY sum(o.quantity) DESC, c.name
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
  FROM customers c JOIN orders o ON o.customer_id = c.id
  GROUP BY c.id
)
WHERE rank_in_region <= 3 ORDER BY region, rank_in_region;

-- JSON: extract from every product, aggregate back into one large document.
SELECT json_extract(attributes, '$.colour') AS colour, count(*) AS n,
       sum(json_extract(attributes, '$.weight_g')) AS grams,
       length(json_group_array(json_extract(attributes, '$.tags[1]'))) AS tag_list_chars
FROM products GROUP BY colour ORDER BY colour;

-- Checksums of whole result sets: a large sort on a text column with no index, a string
-- aggregate of every note.
SELECT hex(sha3_query('SELECT id, note FROM orders WHERE note IS NOT NULL ORDER BY note DESC, id')) AS notes_sorted;
SELECT length(g) AS notes_concat_chars, hex(sha3(g)) AS notes_concat_sha3
FROM (SELECT group_concat(note, ',') AS g FROM (SELECT note FROM orders WHERE note IS NOT NULL ORDER BY id));
SELECT hex(sha3_query('SELECT * FROM customers ORDER BY bio, name')) AS customers_sorted;

-- Updates and deletes: rows grow and shrink in place, pages split and are freed.
UPDATE orders SET note = coalesce(note, '') || printf('%.*c', 1 + id % 40, 'u'), quantity = quantity + 1
WHERE id % 3 = 0;
UPDATE customers SET bio = upper(coalesce(bio, name)) || ' / ' || region WHERE tier IN (1, 3);
DELETE FROM orders WHERE day % 10 = 7 OR (customer_id % 11 = 0 AND quantity > 5);
DELETE FROM customers WHERE id NOT IN (SELECT customer_id FROM orders) AND id % 2 = 0;
INSERT INTO orders (customer_id, product_id, quantity, day, note)
SELECT customer_id, product_id, quantity * 2, day + 1, 'copy of ' || id FROM orders WHERE id % 17 = 0;

SELECT 'after changes' AS what, (SELECT count(*) FROM customers) AS customers,
       (SELECT count(*) FROM orders) AS orders, (SELECT sum(quantity) FROM orders) AS quantity,
       (SELECT sum(length(note)) FROM orders) AS note_chars;
SELECT day / 365 AS year, count(*) AS orders, sum(quantity) AS quantity, avg(quantity) AS avg_quantity
FROM orders GROUP BY year ORDER BY year;
SELECT hex(sha3_query('SELECT * FROM orders ORDER BY id')) AS orders_after;
SELECT hex(sha3_query('SELECT * FROM customers ORDER BY id')) AS customers_after;

-- A temporary table filled from a self-join, then dropped.
CREATE TEMP TABLE pairs AS
SELECT a.id AS a, b.id AS b, a.quantity * b.quantity AS q
FROM orders a JOIN orders b ON b.customer_id = a.customer_id AND b.id > a.id
WHERE a.customer_id % 50 = 0;
SELECT count(*) AS pairs, sum(q) AS q FROM pairs;
DROP TABLE pairs;

VACUUM;
PRAGMA integrity_check;
SELECT 'pages' AS what, page_count, freelist_count FROM pragma_page_count, pragma_freelist_count;

-- A recursive CTE that prints a picture (the Mandelbrot set from SQLite's documentation): floating
-- point and string building in one query.
WITH RECURSIVE
  xaxis(x) AS (VALUES(-2.0) UNION ALL SELECT x + 0.05 FROM xaxis WHERE x < 1.2),
  yaxis(y) AS (VALUES(-1.0) UNION ALL SELECT y + 0.1 FROM yaxis WHERE y < 1.0),
  m(iter, cx, cy, x, y) AS (
    SELECT 0, x, y, 0.0, 0.0 FROM xaxis, yaxis
    UNION ALL
    SELECT iter + 1, cx, cy, x * x - y * y + cx, 2.0 * x * y + cy FROM m
    WHERE (x * x + y * y) < 4.0 AND iter < 28
  ),
  m2(iter, cx, cy) AS (SELECT max(iter), cx, cy FROM m GROUP BY cx, cy),
  a(t) AS (
    SELECT group_concat(substr(' .+*#', 1 + min(iter / 7, 4), 1), '')
    FROM m2 GROUP BY cy ORDER BY cy
  )
SELECT group_concat(rtrim(t), x'0a') AS mandelbrot FROM a;
