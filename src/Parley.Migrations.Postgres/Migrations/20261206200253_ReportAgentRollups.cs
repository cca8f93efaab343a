using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class ReportAgentRollups : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "PK_ReportRollups",
                table: "ReportRollups");

            migrationBuilder.AddColumn<int>(
                name: "Level",
                table: "ReportRollups",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<Guid>(
                name: "AgentId",
                table: "ReportRollups",
                type: "uuid",
                nullable: false,
                defaultValue: new Guid("00000000-0000-0000-0000-000000000000"));

            migrationBuilder.AddPrimaryKey(
                name: "PK_ReportRollups",
                table: "ReportRollups",
                columns: new[] { "Level", "Span", "Hour", "TeamId", "SiteId", "AgentId" });

            // #18: rows per agent (Level 1) beside the rows per department and site (Level 0, kept). Every hour holding a
            // closed conversation's creation or close is marked (an existing mark's stamp bumped), so the materialiser
            // builds both levels; reports read the facts of marked hours meanwhile (docs/reports.md).
            migrationBuilder.Sql("""
                INSERT INTO "ReportRollupDirty" ("Hour", "Stamp")
                SELECT "Hour", 1 FROM (
                    SELECT date_trunc('hour', "CreatedAt" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS "Hour" FROM "ConversationFacts" WHERE "ClosedAt" IS NOT NULL
                    UNION
                    SELECT date_trunc('hour', "ClosedAt" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM "ConversationFacts" WHERE "ClosedAt" IS NOT NULL) AS "Hours" WHERE true
                ON CONFLICT ("Hour") DO UPDATE SET "Stamp" = "ReportRollupDirty"."Stamp" + 1;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            // The agent rows would collide with the department rows once the key loses Level and AgentId.
            migrationBuilder.Sql("""DELETE FROM "ReportRollups" WHERE "Level" <> 0;""");
            migrationBuilder.DropPrimaryKey(
                name: "PK_ReportRollups",
                table: "ReportRollups");

            migrationBuilder.DropColumn(
                name: "Level",
                table: "ReportRollups");

            migrationBuilder.DropColumn(
                name: "AgentId",
                table: "ReportRollups");

            migrationBuilder.AddPrimaryKey(
                name: "PK_ReportRollups",
                table: "ReportRollups",
                columns: new[] { "Span", "Hour", "TeamId", "SiteId" });
        }
    }
}
