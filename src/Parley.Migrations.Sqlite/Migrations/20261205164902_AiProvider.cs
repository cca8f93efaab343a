using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class AiProvider : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "AiProviderSettings",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false),
                    Enabled = table.Column<bool>(type: "INTEGER", nullable: false),
                    BaseUrl = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true),
                    ChatModel = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    EmbeddingModel = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    TimeoutMilliseconds = table.Column<int>(type: "INTEGER", nullable: false),
                    MaxOutputTokens = table.Column<int>(type: "INTEGER", nullable: false),
                    DailyTokenBudgetPerSite = table.Column<long>(type: "INTEGER", nullable: false),
                    ApiKeyProtected = table.Column<string>(type: "TEXT", maxLength: 4000, nullable: true),
                    UpdatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    UpdatedBy = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_AiProviderSettings", x => x.Id);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "AiProviderSettings");
        }
    }
}
