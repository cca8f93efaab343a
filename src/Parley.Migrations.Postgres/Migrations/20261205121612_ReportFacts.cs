using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class ReportFacts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "ConversationFacts",
                columns: table => new
                {
                    ConversationId = table.Column<Guid>(type: "uuid", nullable: false),
                    SiteId = table.Column<Guid>(type: "uuid", nullable: false),
                    TeamId = table.Column<Guid>(type: "uuid", nullable: true),
                    AssigneeId = table.Column<Guid>(type: "uuid", nullable: true),
                    Intent = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false),
                    FirstQueuedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    FirstAssignedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    FirstVisitorMessageAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    FirstResponseAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    ClosedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: true),
                    MessagesIn = table.Column<int>(type: "integer", nullable: false),
                    MessagesOut = table.Column<int>(type: "integer", nullable: false),
                    BotMessages = table.Column<int>(type: "integer", nullable: false),
                    BotStarted = table.Column<bool>(type: "boolean", nullable: false),
                    HandedOff = table.Column<bool>(type: "boolean", nullable: false),
                    Abandoned = table.Column<bool>(type: "boolean", nullable: false),
                    CsatScore = table.Column<int>(type: "integer", nullable: true),
                    UpdatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_ConversationFacts", x => x.ConversationId);
                    table.ForeignKey(
                        name: "FK_ConversationFacts_Conversations_ConversationId",
                        column: x => x.ConversationId,
                        principalTable: "Conversations",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_ConversationFacts_AssigneeId_CreatedAt",
                table: "ConversationFacts",
                columns: new[] { "AssigneeId", "CreatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_ConversationFacts_ClosedAt",
                table: "ConversationFacts",
                column: "ClosedAt",
                filter: "\"ClosedAt\" IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_ConversationFacts_CreatedAt",
                table: "ConversationFacts",
                column: "CreatedAt");

            migrationBuilder.CreateIndex(
                name: "IX_ConversationFacts_TeamId_CreatedAt",
                table: "ConversationFacts",
                columns: new[] { "TeamId", "CreatedAt" });

            // Existing conversations get their facts once, from the conversation rows and one pass over their messages;
            // from here on the group commit and the facts refresher keep them current (docs/reports.md).
            migrationBuilder.Sql("""
                INSERT INTO "ConversationFacts" ("ConversationId", "SiteId", "TeamId", "AssigneeId", "CreatedAt", "FirstQueuedAt", "FirstAssignedAt",
                    "FirstVisitorMessageAt", "FirstResponseAt", "ClosedAt", "MessagesIn", "MessagesOut", "BotMessages", "BotStarted", "HandedOff", "Abandoned", "CsatScore", "UpdatedAt")
                SELECT c."Id", c."SiteId", c."TeamId", c."AssigneeId", c."CreatedAt",
                    CASE WHEN c."BotActive" THEN c."QueuedAt" ELSE c."CreatedAt" END, c."AssignedAt",
                    (SELECT MIN(m."CreatedAt") FROM "Messages" AS m WHERE m."ConversationId" = c."Id" AND m."SenderKind" = 0 AND m."Kind" IN (0, 3)),
                    (SELECT MIN(m."CreatedAt") FROM "Messages" AS m WHERE m."ConversationId" = c."Id" AND m."SenderKind" = 1 AND m."Kind" IN (0, 3)),
                    CASE WHEN c."Status" = 2 THEN c."ClosedAt" END,
                    (SELECT COUNT(*) FROM "Messages" AS m WHERE m."ConversationId" = c."Id" AND m."SenderKind" = 0 AND m."Kind" IN (0, 3)),
                    (SELECT COUNT(*) FROM "Messages" AS m WHERE m."ConversationId" = c."Id" AND m."SenderKind" = 1 AND m."Kind" IN (0, 3)),
                    (SELECT COUNT(*) FROM "Messages" AS m WHERE m."ConversationId" = c."Id" AND m."SenderKind" = 3 AND m."Kind" IN (0, 3)),
                    c."BotActive", c."BotActive" AND c."AssigneeId" IS NOT NULL, c."Status" = 2 AND c."WaitingSince" IS NOT NULL, r."Score", c."UpdatedAt"
                FROM "Conversations" AS c
                LEFT JOIN "ConversationRatings" AS r ON r."ConversationId" = c."Id";
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "ConversationFacts");
        }
    }
}
