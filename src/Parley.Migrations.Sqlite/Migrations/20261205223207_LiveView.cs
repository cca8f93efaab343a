using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class LiveView : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_ConversationFacts_AssigneeId_ClosedAt_TeamId",
                table: "ConversationFacts",
                columns: new[] { "AssigneeId", "ClosedAt", "TeamId" },
                filter: "\"ClosedAt\" IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_ConversationFacts_AssigneeId_ClosedAt_TeamId",
                table: "ConversationFacts");
        }
    }
}
