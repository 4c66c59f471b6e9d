-- OpenMarket order schema: the columns the report-generator and data-sync functions read.
--
-- The backend (NestJS) owns the production schema and its migrations; this file is the
-- contract the two functions rely on, and it is what the tests and benchmarks load.
-- All DATETIME columns hold UTC (Aurora's default time_zone is UTC; the functions also set
-- time_zone = '+00:00' on every connection).
-- Works on Aurora MySQL 8.0 and MariaDB 10.11. Idempotent (IF NOT EXISTS).

CREATE TABLE IF NOT EXISTS products (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  seller_id   BIGINT UNSIGNED NOT NULL,
  name        VARCHAR(255)    NOT NULL,
  price       DECIMAL(12, 2)  NOT NULL,
  stock       INT             NOT NULL DEFAULT 0,
  -- 0 = delisted (soft delete): data-sync removes the product's stock key from Redis.
  is_active   TINYINT(1)      NOT NULL DEFAULT 1,
  created_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  -- Must change on every write that changes stock or is_active (data-sync's watermark).
  updated_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
                                       ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_products_seller (seller_id),
  -- data-sync: WHERE updated_at >= :watermark (incremental sync).
  KEY idx_products_updated_at (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS orders (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  user_id     BIGINT UNSIGNED NOT NULL,
  -- PENDING, PAID, SHIPPED, DELIVERED, CANCELLED, REFUNDED
  status      VARCHAR(16)     NOT NULL,
  -- What the buyer pays for the order (sum of its items' quantity * unit_price).
  total       DECIMAL(14, 2)  NOT NULL,
  currency    CHAR(3)         NOT NULL DEFAULT 'KRW',
  created_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3),  -- UTC
  updated_at  DATETIME(3)     NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
                                       ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_orders_user (user_id),
  -- Covering index for the daily report and the hot-products query: a range scan on
  -- created_at that never touches the clustered rows (InnoDB appends the primary key id).
  KEY idx_orders_created_at (created_at, status, currency, total)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS order_items (
  order_id    BIGINT UNSIGNED NOT NULL,
  product_id  BIGINT UNSIGNED NOT NULL,
  quantity    INT UNSIGNED    NOT NULL,
  unit_price  DECIMAL(12, 2)  NOT NULL,  -- price at the time of the order
  -- Clustered by order: the report's join reads an order's items with one index seek.
  PRIMARY KEY (order_id, product_id),
  KEY idx_order_items_product (product_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
