using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class SearchScope : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // #18: department-aware postings and the re-tag queue; the index is emptied and rebuilt by
            // MessageSearchIndexer from watermark 0 (search stays exact meanwhile: above the watermark it reads LIKE).
            migrationBuilder.Sql(Parley.Data.SearchIndexSql.SqliteScopeCreate);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(Parley.Data.SearchIndexSql.SqliteScopeDrop);
        }
    }
}
