using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class AiIntentRoutingAndTakeover : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "AiSettingsJson",
                table: "Sites",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Intent",
                table: "Conversations",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "RoutingWaitUntil",
                table: "Conversations",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "TakeoverAlertedAt",
                table: "Conversations",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "TakeoverReason",
                table: "Conversations",
                type: "character varying(40)",
                maxLength: 40,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_Conversations_RoutingWait",
                table: "Conversations",
                column: "RoutingWaitUntil",
                filter: "\"RoutingWaitUntil\" IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_Conversations_Takeover",
                table: "Conversations",
                column: "TakeoverAlertedAt",
                filter: "\"TakeoverReason\" IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Conversations_RoutingWait",
                table: "Conversations");

            migrationBuilder.DropIndex(
                name: "IX_Conversations_Takeover",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "AiSettingsJson",
                table: "Sites");

            migrationBuilder.DropColumn(
                name: "Intent",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "RoutingWaitUntil",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "TakeoverAlertedAt",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "TakeoverReason",
                table: "Conversations");
        }
    }
}
