using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Parley.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class DataLifecycle : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Conversations_SiteId",
                table: "Conversations");

            migrationBuilder.AddColumn<int>(
                name: "RetentionDays",
                table: "Sites",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "RetentionMode",
                table: "Sites",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTime>(
                name: "AnonymisedAt",
                table: "Conversations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "ErasedAt",
                table: "Contacts",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "AttachmentDeletions",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    StorageKey = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_AttachmentDeletions", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_Conversations_SiteId_Status_ClosedAt",
                table: "Conversations",
                columns: new[] { "SiteId", "Status", "ClosedAt" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "AttachmentDeletions");

            migrationBuilder.DropIndex(
                name: "IX_Conversations_SiteId_Status_ClosedAt",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "RetentionDays",
                table: "Sites");

            migrationBuilder.DropColumn(
                name: "RetentionMode",
                table: "Sites");

            migrationBuilder.DropColumn(
                name: "AnonymisedAt",
                table: "Conversations");

            migrationBuilder.DropColumn(
                name: "ErasedAt",
                table: "Contacts");

            migrationBuilder.CreateIndex(
                name: "IX_Conversations_SiteId",
                table: "Conversations",
                column: "SiteId");
        }
    }
}
