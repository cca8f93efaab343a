using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class SearchIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // #18: the bigram index fed by MessageSearchIndexer replaces the trigram index maintained on every
            // message insert (nothing on the chat write path any more); the indexer fills it from watermark 0.
            migrationBuilder.Sql(Parley.Data.SearchIndexSql.PostgresDrop);
            migrationBuilder.Sql(Parley.Data.SearchIndexSql.PostgresGramsCreate);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(Parley.Data.SearchIndexSql.PostgresGramsDrop);
            migrationBuilder.Sql(Parley.Data.SearchIndexSql.PostgresCreate);
        }
    }
}
