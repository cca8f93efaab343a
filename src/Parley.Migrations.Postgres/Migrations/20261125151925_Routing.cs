using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class Routing : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Conversations_TeamId",
                table: "Conversations");

            migrationBuilder.AddColumn<string>(
                name: "HoursJson",
                table: "Teams",
                type: "character varying(20000)",
                maxLength: 20000,
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "OfferTimeoutSeconds",
                table: "Teams",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "OverflowAfterMinutes",
                table: "Teams",
                type: "integer",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "OverflowTeamId",
                table: "Teams",
                type: "uuid",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Skills",
                table: "Teams",
                type: "character varying(1000)",
                maxLength: 1000,
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "Sticky",
                table: "Teams",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<int>(
                name: "Strategy",
                table: "Teams",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<string>(
                name: "TimeZone",
                table: "Teams",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<DateTime>(
                name: "LastAssignedAt",
                table: "TeamMembers",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "AssignedAt",
                table: "Conversations",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "DeclinedBy",
                table: "Conversations",
                type: "character varying(2000)",
                maxLength: 2000,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "OfferExpiresAt",
                table: "Conversations",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "OfferedToId",
                table: "Conversations",
                type: "uuid",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "QueuedAt",
                table: "Conversations",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "RoutedAt",
                table: "Conversations",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_Teams_OverflowTeamId",
                table: "Teams",
                column: "OverflowTeamId");

            migrationBuilder.CreateIndex(
                name: "IX_Conversations_OfferedToId",
                table: "Conversations",
                column: "OfferedToId");

            migrationBuilder.CreateIndex(
                name: "IX_Conversations_Queue",
                table: "Conversations",
                columns: new[] { "TeamId", "QueuedAt" },
                filter: "\"QueuedAt\" IS NOT NULL");

            migrationBuilder.AddForeignKey(
                name: "FK_Teams_Teams_OverflowTeamId",
                table: "Teams",
                column: "OverflowTeamId",
                principalTable: "Teams",
                principalColumn: "Id",
                onDelete: ReferentialAction.SetNull);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_Teams_Teams_OverflowTeamId",
                table: "Teams");

            migrationBuilder.DropIndex(
                name: "IX_Teams_OverflowTeamId",
                table: "Teams");

            migrationBuilder.DropIndex(
                name: "IX_Conversations_OfferedToId",
                table: "Conversations");

            migrationBuilder.DropIndex(
                name: "IX_Conversations_Queue",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "HoursJson",
                table: "Teams");

            migrationBuilder.DropColumn(
                name: "OfferTimeoutSeconds",
                table: "Teams");

            migrationBuilder.DropColumn(
                name: "OverflowAfterMinutes",
                table: "Teams");

            migrationBuilder.DropColumn(
                name: "OverflowTeamId",
                table: "Teams");

            migrationBuilder.DropColumn(
                name: "Skills",
                table: "Teams");

            migrationBuilder.DropColumn(
                name: "Sticky",
                table: "Teams");

            migrationBuilder.DropColumn(
                name: "Strategy",
                table: "Teams");

            migrationBuilder.DropColumn(
                name: "TimeZone",
                table: "Teams");

            migrationBuilder.DropColumn(
                name: "LastAssignedAt",
                table: "TeamMembers");

            migrationBuilder.DropColumn(
                name: "AssignedAt",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "DeclinedBy",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "OfferExpiresAt",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "OfferedToId",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "QueuedAt",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "RoutedAt",
                table: "Conversations");

            migrationBuilder.CreateIndex(
                name: "IX_Conversations_TeamId",
                table: "Conversations",
                column: "TeamId");
        }
    }
}
