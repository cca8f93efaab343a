using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class SearchScope : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // #18: department-aware postings and the re-tag queue; the index is emptied and rebuilt by
            // MessageSearchIndexer from watermark 0 (search stays exact meanwhile: above the watermark it reads LIKE).
            migrationBuilder.Sql(Parley.Data.SearchIndexSql.PostgresScopeCreate);
            migrationBuilder.CreateIndex(
                name: "IX_Conversations_AssigneeId_TeamId_Id",
                table: "Conversations",
                columns: new[] { "AssigneeId", "TeamId", "Id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(name: "IX_Conversations_AssigneeId_TeamId_Id", table: "Conversations");
            migrationBuilder.Sql(Parley.Data.SearchIndexSql.PostgresScopeDrop);
        }
    }
}
