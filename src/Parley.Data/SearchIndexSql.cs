namespace Parley.Data;

/// <summary>
/// The full-text index over message bodies, outside EF Core's model (neither provider's index kind is modelled):
/// SQLite gets an FTS5 table with the trigram tokenizer (substring matches, also for Chinese, for queries of 3+
/// characters), kept in step by triggers; PostgreSQL gets a pg_trgm GIN index that serves ILIKE '%…%'.
/// Migrations call these. Note for later SQLite migrations: a table rebuild of "Messages" drops its triggers;
/// re-run <see cref="SqliteCreate"/> after one.
/// </summary>
public static class SearchIndexSql
{
    public const string SqliteCreate = """
        CREATE VIRTUAL TABLE IF NOT EXISTS "MessagesFts" USING fts5("Body", content='Messages', content_rowid='Id', tokenize='trigram');
        CREATE TRIGGER IF NOT EXISTS "Messages_fts_insert" AFTER INSERT ON "Messages" BEGIN
            INSERT INTO "MessagesFts"(rowid, "Body") VALUES (new."Id", new."Body");
        END;
        CREATE TRIGGER IF NOT EXISTS "Messages_fts_delete" AFTER DELETE ON "Messages" BEGIN
            INSERT INTO "MessagesFts"("MessagesFts", rowid, "Body") VALUES ('delete', old."Id", old."Body");
        END;
        CREATE TRIGGER IF NOT EXISTS "Messages_fts_update" AFTER UPDATE OF "Body" ON "Messages" BEGIN
            INSERT INTO "MessagesFts"("MessagesFts", rowid, "Body") VALUES ('delete', old."Id", old."Body");
            INSERT INTO "MessagesFts"(rowid, "Body") VALUES (new."Id", new."Body");
        END;
        INSERT INTO "MessagesFts"("MessagesFts") VALUES ('rebuild');
        """;

    public const string SqliteDrop = """
        DROP TRIGGER IF EXISTS "Messages_fts_update";
        DROP TRIGGER IF EXISTS "Messages_fts_delete";
        DROP TRIGGER IF EXISTS "Messages_fts_insert";
        DROP TABLE IF EXISTS "MessagesFts";
        """;

    public const string PostgresCreate = """
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX IF NOT EXISTS "IX_Messages_Body_trgm" ON "Messages" USING gin ("Body" gin_trgm_ops);
        """;

    public const string PostgresDrop = """
        DROP INDEX IF EXISTS "IX_Messages_Body_trgm";
        """;
}
