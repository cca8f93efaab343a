using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class ReportHourlyRollups : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "ReportRollupDirty",
                columns: table => new
                {
                    Hour = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    Stamp = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_ReportRollupDirty", x => x.Hour);
                });

            migrationBuilder.CreateTable(
                name: "ReportRollups",
                columns: table => new
                {
                    Hour = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    Span = table.Column<int>(type: "integer", nullable: false),
                    TeamId = table.Column<Guid>(type: "uuid", nullable: false),
                    SiteId = table.Column<Guid>(type: "uuid", nullable: false),
                    Created = table.Column<int>(type: "integer", nullable: false),
                    Missed = table.Column<int>(type: "integer", nullable: false),
                    Abandoned = table.Column<int>(type: "integer", nullable: false),
                    MessagesIn = table.Column<long>(type: "bigint", nullable: false),
                    MessagesOut = table.Column<long>(type: "bigint", nullable: false),
                    BotConversations = table.Column<int>(type: "integer", nullable: false),
                    HandedOff = table.Column<int>(type: "integer", nullable: false),
                    FirstResponseCount = table.Column<int>(type: "integer", nullable: false),
                    FirstResponseSum = table.Column<double>(type: "double precision", nullable: false),
                    QueueWaitCount = table.Column<int>(type: "integer", nullable: false),
                    QueueWaitSum = table.Column<double>(type: "double precision", nullable: false),
                    Closed = table.Column<int>(type: "integer", nullable: false),
                    ResolutionCount = table.Column<int>(type: "integer", nullable: false),
                    ResolutionSum = table.Column<double>(type: "double precision", nullable: false),
                    HandleCount = table.Column<int>(type: "integer", nullable: false),
                    HandleSum = table.Column<double>(type: "double precision", nullable: false),
                    Csat1 = table.Column<int>(type: "integer", nullable: false),
                    Csat2 = table.Column<int>(type: "integer", nullable: false),
                    Csat3 = table.Column<int>(type: "integer", nullable: false),
                    Csat4 = table.Column<int>(type: "integer", nullable: false),
                    Csat5 = table.Column<int>(type: "integer", nullable: false),
                    BotClosed = table.Column<int>(type: "integer", nullable: false),
                    BotResolved = table.Column<int>(type: "integer", nullable: false),
                    Histograms = table.Column<byte[]>(type: "bytea", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_ReportRollups", x => new { x.Span, x.Hour, x.TeamId, x.SiteId });
                });

            migrationBuilder.CreateIndex(
                name: "IX_ConversationFacts_Open_CreatedAt",
                table: "ConversationFacts",
                column: "CreatedAt",
                filter: "\"ClosedAt\" IS NULL");

            // Every hour holding a closed conversation's creation or close is stale: the materialiser builds them all.
            migrationBuilder.Sql("""
                INSERT INTO "ReportRollupDirty" ("Hour", "Stamp")
                SELECT "Hour", 1 FROM (
                    SELECT date_trunc('hour', "CreatedAt" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS "Hour" FROM "ConversationFacts" WHERE "ClosedAt" IS NOT NULL
                    UNION
                    SELECT date_trunc('hour', "ClosedAt" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM "ConversationFacts" WHERE "ClosedAt" IS NOT NULL) AS "Hours";
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "ReportRollupDirty");

            migrationBuilder.DropTable(
                name: "ReportRollups");

            migrationBuilder.DropIndex(
                name: "IX_ConversationFacts_Open_CreatedAt",
                table: "ConversationFacts");
        }
    }
}
