-- The config's revisions, newest last: each saved only when based on the latest (see the README,
-- "The config admin API"). KV's `config` holds the latest one's document for the request path.
CREATE TABLE config_revisions (
  revision INTEGER PRIMARY KEY,
  document TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  note TEXT NOT NULL DEFAULT ''
);
