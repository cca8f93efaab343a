namespace Parley.Data;

/// <summary>
/// The full-text index over message bodies, outside EF Core's model (neither provider's index kind is modelled):
/// SQLite gets an FTS5 table with the trigram tokenizer (substring matches, also for Chinese, for queries of 3+
/// characters), kept in step by triggers; PostgreSQL gets a pg_trgm GIN index that serves ILIKE '%…%'.
/// Migrations call these. Since migration <c>SearchIndex</c> (#18) that trigram index is gone: history search reads the
/// bigram index below (<see cref="SqliteGramsCreate"/>, <see cref="PostgresGramsCreate"/>), written off the message
/// path. Note for later SQLite migrations: a table rebuild of "Messages" drops its triggers; re-run
/// <see cref="SqliteGramsCreate"/> after one.
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

    /// <summary>
    /// #18's index (migration <c>SearchIndex</c>): a bigram posting index fed off the message path by
    /// <c>MessageSearchIndexer</c> up to the watermark in <c>"MessageSearchState"</c>. SQLite: a contentless FTS5 table
    /// (no copy of the text, <c>detail=none</c>: document ids only) whose documents are the message's distinct
    /// bigrams, each written as one ASCII token; rows leave with their message (trigger) or on erasure.
    /// </summary>
    public const string SqliteGramsCreate = """
        CREATE VIRTUAL TABLE IF NOT EXISTS "MessageSearchFts" USING fts5("Grams", content='', contentless_delete=1, detail='none', tokenize='ascii');
        CREATE TABLE IF NOT EXISTS "MessageSearchState" ("Id" INTEGER NOT NULL PRIMARY KEY, "Watermark" INTEGER NOT NULL);
        INSERT OR IGNORE INTO "MessageSearchState" ("Id", "Watermark") VALUES (1, 0);
        CREATE TRIGGER IF NOT EXISTS "Messages_search_delete" AFTER DELETE ON "Messages" BEGIN
            DELETE FROM "MessageSearchFts" WHERE rowid = old."Id";
        END;
        """;

    public const string SqliteGramsDrop = """
        DROP TRIGGER IF EXISTS "Messages_search_delete";
        DROP TABLE IF EXISTS "MessageSearchFts";
        DROP TABLE IF EXISTS "MessageSearchState";
        """;

    /// <summary>
    /// PostgreSQL: one row per indexed message with the hashes of its lower-cased character bigrams (int[], GIN).
    /// <c>parley_search_grams</c> computes them for the rows and for the query alike, with the database's own
    /// <c>lower()</c> — the one ILIKE uses — so the index always returns a superset of ILIKE's matches.
    /// </summary>
    public const string PostgresGramsCreate = """
        CREATE OR REPLACE FUNCTION parley_search_grams(t text) RETURNS int[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT coalesce(array_agg(DISTINCT g), '{}'::int[]) FROM (
                SELECT ((ascii(c)::bigint * 65536 + ascii(lead(c) OVER (ORDER BY i))) % 2147483647)::int AS g
                FROM unnest(string_to_array(lower(t), NULL)) WITH ORDINALITY AS u(c, i)) s
            WHERE g IS NOT NULL
        $$;
        CREATE TABLE IF NOT EXISTS "MessageSearchGrams" (
            "MessageId" bigint NOT NULL PRIMARY KEY REFERENCES "Messages" ("Id") ON DELETE CASCADE,
            "Grams" int[] NOT NULL);
        CREATE INDEX IF NOT EXISTS "IX_MessageSearchGrams_Grams" ON "MessageSearchGrams" USING gin ("Grams");
        CREATE TABLE IF NOT EXISTS "MessageSearchState" ("Id" integer NOT NULL PRIMARY KEY, "Watermark" bigint NOT NULL);
        INSERT INTO "MessageSearchState" ("Id", "Watermark") VALUES (1, 0) ON CONFLICT DO NOTHING;
        """;

    /// <summary>
    /// Department-aware postings (migration <c>SearchScope</c>, #18). PostgreSQL: a message's array holds, for each of
    /// its bigrams, two keys hashed by <c>parley_search_qualified</c> from the bigram, a department and the message's
    /// id bucket (<c>id &gt;&gt; 18</c>, 262,144 ids): one for every department (-1, what an admin's search asks for) and one for
    /// its conversation's (<c>parley_search_scope</c>: 0 for none, otherwise 1 plus the team id's last 28 bits). A
    /// search walks the buckets newest first and asks the GIN for the keys of one bucket at a time (an agent: one
    /// containment per department he sees), so each scan reads posting lists a bucket's (and a department's) size
    /// instead of the whole table's, and returns only candidates of that slice. A department change of a
    /// conversation queues it in <c>"MessageSearchRetag"</c> (a trigger, so every writer is covered); the indexer
    /// rewrites its postings and search reads a queued conversation's messages directly until then. The index is
    /// emptied (watermark 0): the indexer rebuilds it.
    /// </summary>
    public const string PostgresScopeCreate = """
        TRUNCATE "MessageSearchGrams";
        UPDATE "MessageSearchState" SET "Watermark" = 0 WHERE "Id" = 1;
        CREATE OR REPLACE FUNCTION parley_search_scope(t uuid) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT CASE WHEN t IS NULL THEN 0 ELSE 1 + ('x' || right(replace(t::text, '-', ''), 7))::bit(28)::int END
        $$;
        CREATE OR REPLACE FUNCTION parley_search_qualified(grams int[], scope int, bucket int) RETURNS int[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT coalesce(array_agg((-1 - ((g::bigint * 2654435761 + (scope::bigint + 1) * 40503 + bucket::bigint * 2246822519) % 2147483647))::int), '{}'::int[])
            FROM unnest(grams) g WHERE g >= 0
        $$;
        CREATE OR REPLACE FUNCTION parley_search_postings(grams int[], team uuid, id bigint) RETURNS int[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT parley_search_qualified(grams, -1, (id >> 18)::int) || parley_search_qualified(grams, parley_search_scope(team), (id >> 18)::int)
        $$;
        CREATE TABLE IF NOT EXISTS "MessageSearchRetag" ("ConversationId" uuid NOT NULL PRIMARY KEY, "Version" bigint NOT NULL DEFAULT 1);
        CREATE OR REPLACE FUNCTION parley_search_retag() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO "MessageSearchRetag" ("ConversationId") VALUES (NEW."Id")
            ON CONFLICT ("ConversationId") DO UPDATE SET "Version" = "MessageSearchRetag"."Version" + 1;
            RETURN NULL;
        END
        $$;
        DROP TRIGGER IF EXISTS "Conversations_search_retag" ON "Conversations";
        CREATE TRIGGER "Conversations_search_retag" AFTER UPDATE OF "TeamId" ON "Conversations"
            FOR EACH ROW WHEN (OLD."TeamId" IS DISTINCT FROM NEW."TeamId") EXECUTE FUNCTION parley_search_retag();
        """;

    public const string PostgresScopeDrop = """
        DROP TRIGGER IF EXISTS "Conversations_search_retag" ON "Conversations";
        DROP FUNCTION IF EXISTS parley_search_retag();
        DROP TABLE IF EXISTS "MessageSearchRetag";
        DROP FUNCTION IF EXISTS parley_search_postings(int[], uuid, bigint);
        DROP FUNCTION IF EXISTS parley_search_qualified(int[], int, int);
        DROP FUNCTION IF EXISTS parley_search_scope(uuid);
        TRUNCATE "MessageSearchGrams";
        UPDATE "MessageSearchState" SET "Watermark" = 0 WHERE "Id" = 1;
        """;

    /// <summary>
    /// SQLite's side of <see cref="PostgresScopeCreate"/>: the department is one more token of the document
    /// (<c>tnone</c>, or <c>t</c> and the team id's 32 hex digits); FTS5 walks the doclists newest first and stops at
    /// the page, so the department token and the bigrams intersect there without qualified copies. The FTS table is recreated empty (a contentless
    /// table cannot be rewritten in SQL) and the watermark goes back to 0. Note for later migrations: a table rebuild of
    /// "Conversations" drops its trigger; re-run this after one (the index is then rebuilt, which is always safe).
    /// </summary>
    public const string SqliteScopeCreate = """
        DROP TABLE IF EXISTS "MessageSearchFts";
        CREATE VIRTUAL TABLE "MessageSearchFts" USING fts5("Grams", content='', contentless_delete=1, detail='none', tokenize='ascii');
        UPDATE "MessageSearchState" SET "Watermark" = 0 WHERE "Id" = 1;
        CREATE TABLE IF NOT EXISTS "MessageSearchRetag" ("ConversationId" TEXT NOT NULL PRIMARY KEY, "Version" INTEGER NOT NULL);
        DROP TRIGGER IF EXISTS "Conversations_search_retag";
        CREATE TRIGGER "Conversations_search_retag" AFTER UPDATE OF "TeamId" ON "Conversations" WHEN OLD."TeamId" IS NOT NEW."TeamId" BEGIN
            INSERT OR REPLACE INTO "MessageSearchRetag" ("ConversationId", "Version")
            VALUES (NEW."Id", coalesce((SELECT "Version" FROM "MessageSearchRetag" WHERE "ConversationId" = NEW."Id"), 0) + 1);
        END;
        """;

    public const string SqliteScopeDrop = """
        DROP TRIGGER IF EXISTS "Conversations_search_retag";
        DROP TABLE IF EXISTS "MessageSearchRetag";
        DROP TABLE IF EXISTS "MessageSearchFts";
        CREATE VIRTUAL TABLE "MessageSearchFts" USING fts5("Grams", content='', contentless_delete=1, detail='none', tokenize='ascii');
        UPDATE "MessageSearchState" SET "Watermark" = 0 WHERE "Id" = 1;
        """;

    public const string PostgresGramsDrop = """
        DROP TABLE IF EXISTS "MessageSearchGrams";
        DROP TABLE IF EXISTS "MessageSearchState";
        DROP FUNCTION IF EXISTS parley_search_grams(text);
        """;
}
