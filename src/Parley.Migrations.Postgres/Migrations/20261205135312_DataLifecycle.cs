using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Parley.Migrations.Postgres.Migrations
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
                type: "integer",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "RetentionMode",
                table: "Sites",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTime>(
                name: "AnonymisedAt",
                table: "Conversations",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "ErasedAt",
                table: "Contacts",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "AttachmentDeletions",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    StorageKey = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "timestamp with time zone", nullable: false)
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
