-- Athena table over Fig's audit objects (docs/ARCHITECTURE.md §6): JSON Lines under
-- s3://<AuditBucketName>/audit/v1/date=YYYY-MM-DD/hour=HH/*.jsonl, one event per line.
--
-- Replace <AuditBucketName> with the stack output of the same name, then run this in the Athena
-- console (or `aws athena start-query-execution`). Partition projection means no crawler and no
-- MSCK REPAIR: a query that names a date range reads only those prefixes.
--
-- The common fields and the type-specific fields most events carry are columns (field names
-- match case-insensitively: changeMessage -> changemessage). For every field of every type,
-- `figctl audit query` prints whole events.
--
-- A retried stream batch may write an event twice (in two objects): de-duplicate by id, e.g.
--   SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY id) AS n FROM fig_audit) WHERE n = 1
--
-- The objects' integrity is checked by `figctl audit verify` (the signed digests under
-- digests/v1/), not by Athena.

CREATE EXTERNAL TABLE IF NOT EXISTS fig_audit (
  id            string,
  `time`        string,
  type          string,
  severity      string,
  success       boolean,
  actor         struct<kind:string, name:string>,
  source        struct<ip:string, userAgent:string, requestId:string>,
  client        string,
  instance      string,
  username      string,
  settings      array<string>,
  changeMessage string,
  reason        string,
  action        string,
  webhook       string,
  host          string,
  status        string
)
PARTITIONED BY (`date` string, `hour` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'false')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://<AuditBucketName>/audit/v1/'
TBLPROPERTIES (
  'projection.enabled'        = 'true',
  'projection.date.type'      = 'date',
  'projection.date.format'    = 'yyyy-MM-dd',
  'projection.date.range'     = '2025-01-01,NOW',
  'projection.date.interval'  = '1',
  'projection.date.interval.unit' = 'DAYS',
  'projection.hour.type'      = 'integer',
  'projection.hour.range'     = '0,23',
  'projection.hour.digits'    = '2',
  'storage.location.template' = 's3://<AuditBucketName>/audit/v1/date=${date}/hour=${hour}/'
);

-- Examples.
-- Failed logins by address, last 7 days:
--   SELECT source.ip, count(*) AS failures FROM fig_audit
--   WHERE type = 'LoginFailed' AND "date" >= cast(current_date - interval '7' day AS varchar)
--   GROUP BY source.ip ORDER BY failures DESC;
-- Who changed billing's settings this month:
--   SELECT "time", actor.name, settings, changeMessage FROM fig_audit
--   WHERE type = 'SettingValueChanged' AND client = 'billing' AND "date" >= '2026-11-01'
--   ORDER BY "time";
