using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace Parley.Data;

/// <summary>The one DbContext. Its model is provider-neutral; each provider has its own migrations assembly.</summary>
public sealed class ParleyDbContext(DbContextOptions<ParleyDbContext> options) : DbContext(options)
{
    public DbSet<Site> Sites => Set<Site>();

    public DbSet<User> Users => Set<User>();

    public DbSet<Contact> Contacts => Set<Contact>();

    public DbSet<Conversation> Conversations => Set<Conversation>();

    public DbSet<Message> Messages => Set<Message>();

    public DbSet<Team> Teams => Set<Team>();

    public DbSet<TeamMember> TeamMembers => Set<TeamMember>();

    public DbSet<CannedReply> CannedReplies => Set<CannedReply>();

    public DbSet<CannedReplyTeam> CannedReplyTeams => Set<CannedReplyTeam>();

    public DbSet<Label> Labels => Set<Label>();

    public DbSet<ConversationLabel> ConversationLabels => Set<ConversationLabel>();

    public DbSet<ReadMarker> ReadMarkers => Set<ReadMarker>();

    public DbSet<ContactNote> ContactNotes => Set<ContactNote>();

    public DbSet<PageView> PageViews => Set<PageView>();

    public DbSet<IntegrationEvent> IntegrationEvents => Set<IntegrationEvent>();

    public DbSet<WebhookEndpoint> WebhookEndpoints => Set<WebhookEndpoint>();

    public DbSet<WebhookDelivery> WebhookDeliveries => Set<WebhookDelivery>();

    public DbSet<WebhookAttempt> WebhookAttempts => Set<WebhookAttempt>();

    public DbSet<ContactEvent> ContactEvents => Set<ContactEvent>();

    public DbSet<IdempotencyRecord> IdempotencyRecords => Set<IdempotencyRecord>();

    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();

    public DbSet<UserSession> UserSessions => Set<UserSession>();

    public DbSet<ApiToken> ApiTokens => Set<ApiToken>();

    public DbSet<RecoveryCode> RecoveryCodes => Set<RecoveryCode>();

    public DbSet<AdapterStatus> AdapterStatuses => Set<AdapterStatus>();

    public DbSet<AuditEntry> AuditEntries => Set<AuditEntry>();

    public DbSet<Attachment> Attachments => Set<Attachment>();

    public DbSet<ConversationRating> ConversationRatings => Set<ConversationRating>();

    public DbSet<KnowledgeEntry> KnowledgeEntries => Set<KnowledgeEntry>();

    public DbSet<KnowledgeEmbedding> KnowledgeEmbeddings => Set<KnowledgeEmbedding>();

    public DbSet<KnowledgeSynonym> KnowledgeSynonyms => Set<KnowledgeSynonym>();

    public DbSet<IntentExample> IntentExamples => Set<IntentExample>();

    public DbSet<AiProviderSettings> AiProviderSettings => Set<AiProviderSettings>();

    public DbSet<ConversationFacts> ConversationFacts => Set<ConversationFacts>();

    public DbSet<ReportRollup> ReportRollups => Set<ReportRollup>();

    public DbSet<ReportRollupDirty> ReportRollupDirty => Set<ReportRollupDirty>();
    public DbSet<AttachmentDeletion> AttachmentDeletions => Set<AttachmentDeletion>();

    public DbSet<AlertChannel> AlertChannels => Set<AlertChannel>();

    public DbSet<AlertRule> AlertRules => Set<AlertRule>();

    public DbSet<AlertIncident> AlertIncidents => Set<AlertIncident>();

    public DbSet<NodeLease> NodeLeases => Set<NodeLease>();

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Every timestamp is UTC. SQLite hands DateTime back as Unspecified, so mark it on the way out.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcConverter>();
        configurationBuilder.Properties<DateTime?>().HaveConversion<UtcConverter>();
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Site>(e =>
        {
            e.Property(x => x.Key).HasMaxLength(64);
            e.Property(x => x.Name).HasMaxLength(200);
            e.Property(x => x.Secret).HasMaxLength(128);
            e.Property(x => x.AllowedOrigins).HasMaxLength(4000);
            e.HasIndex(x => x.Key).IsUnique();
        });

        modelBuilder.Entity<User>(e =>
        {
            e.Property(x => x.Email).HasMaxLength(256);
            e.Property(x => x.NormalizedEmail).HasMaxLength(256);
            e.Property(x => x.DisplayName).HasMaxLength(200);
            e.Property(x => x.PasswordHash).HasMaxLength(512);
            e.Property(x => x.SecurityStamp).HasMaxLength(64);
            e.Property(x => x.TotpSecret).HasMaxLength(512);
            e.HasIndex(x => x.NormalizedEmail).IsUnique();
        });

        modelBuilder.Entity<UserSession>(e =>
        {
            e.Property(x => x.IpAddress).HasMaxLength(64);
            e.Property(x => x.UserAgent).HasMaxLength(512);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.UserId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => new { x.UserId, x.RevokedAt });
        });

        modelBuilder.Entity<RecoveryCode>(e =>
        {
            e.Property(x => x.Hash).HasMaxLength(64);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.UserId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => x.UserId);
        });

        modelBuilder.Entity<AdapterStatus>(e =>
        {
            e.HasKey(x => x.Name);
            e.Property(x => x.Name).HasMaxLength(100);
            e.Property(x => x.LastFailureKind).HasMaxLength(32);
            e.Property(x => x.LastError).HasMaxLength(500);
        });

        modelBuilder.Entity<ApiToken>(e =>
        {
            e.Property(x => x.Name).HasMaxLength(200);
            e.Property(x => x.Prefix).HasMaxLength(32);
            e.Property(x => x.Hash).HasMaxLength(64);
            e.Property(x => x.Scopes).HasMaxLength(1000);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.UserId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => x.Hash).IsUnique();
            e.HasIndex(x => x.UserId);
        });

        modelBuilder.Entity<AuditEntry>(e =>
        {
            e.Property(x => x.ActorName).HasMaxLength(200);
            e.Property(x => x.Action).HasMaxLength(100);
            e.Property(x => x.TargetType).HasMaxLength(100);
            e.Property(x => x.TargetId).HasMaxLength(100);
            e.Property(x => x.IpAddress).HasMaxLength(64);
            e.Property(x => x.DetailsJson).HasMaxLength(4000);
            e.HasIndex(x => x.At);
            e.HasIndex(x => new { x.ActorId, x.At });
        });

        modelBuilder.Entity<Contact>(e =>
        {
            e.Property(x => x.ExternalId).HasMaxLength(200);
            e.Property(x => x.Name).HasMaxLength(200);
            e.Property(x => x.Email).HasMaxLength(256);
            e.Property(x => x.Phone).HasMaxLength(64);
            e.HasOne<Site>().WithMany().HasForeignKey(x => x.SiteId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => new { x.SiteId, x.ExternalId }).IsUnique().HasFilter("\"ExternalId\" IS NOT NULL");
        });

        modelBuilder.Entity<Conversation>(e =>
        {
            e.Property(x => x.LastMessagePreview).HasMaxLength(200);
            e.HasOne<Site>().WithMany().HasForeignKey(x => x.SiteId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<Contact>().WithMany().HasForeignKey(x => x.ContactId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.AssigneeId).OnDelete(DeleteBehavior.SetNull);
            // At most one conversation per contact that is not closed: concurrent "start" calls converge on it.
            e.HasIndex(x => x.ContactId).IsUnique().HasFilter("\"Status\" <> 2").HasDatabaseName("IX_Conversations_ContactId_Active");
            e.HasIndex(x => new { x.ContactId, x.CreatedAt });
            e.HasIndex(x => new { x.Status, x.LastMessageAt });
            e.HasIndex(x => new { x.AssigneeId, x.Status });
            e.HasIndex(x => new { x.AssigneeId, x.TeamId, x.Id }); // history search: one's own conversations outside one's departments, from the index alone
            e.Property(x => x.DeclinedBy).HasMaxLength(2000);
            e.Property(x => x.Intent).HasMaxLength(IntentExample.MaxIntentLength);
            e.Property(x => x.TakeoverReason).HasMaxLength(40);
            e.HasIndex(x => x.RoutingWaitUntil).HasFilter("\"RoutingWaitUntil\" IS NOT NULL").HasDatabaseName("IX_Conversations_RoutingWait");
            e.HasIndex(x => x.TakeoverAlertedAt).HasFilter("\"TakeoverReason\" IS NOT NULL").HasDatabaseName("IX_Conversations_Takeover");
            e.HasIndex(x => x.OfferedToId);
            // The waiting queue scan: per team, priority lane first, then arrival.
            e.HasIndex(x => new { x.TeamId, x.QueuedAt }).HasFilter("\"QueuedAt\" IS NOT NULL").HasDatabaseName("IX_Conversations_Queue");
        });

        modelBuilder.Entity<Message>(e =>
        {
            e.Property(x => x.SenderName).HasMaxLength(200);
            e.HasOne<Conversation>().WithMany().HasForeignKey(x => x.ConversationId).OnDelete(DeleteBehavior.Cascade);
            // The idempotency key of the message path: a retried send finds its original here. ClientId leads
            // so that a whole batch is checked with one `ClientId IN (...)` index lookup.
            e.HasIndex(x => new { x.ClientId, x.ConversationId }).IsUnique();
            // Order and replay: (conversation, seq) is unique and is the replay scan.
            e.HasIndex(x => new { x.ConversationId, x.Seq }).IsUnique();
            e.HasIndex(x => new { x.ConversationId, x.VisitorSeq }).IsUnique().HasFilter("\"VisitorSeq\" IS NOT NULL");
        });

        modelBuilder.Entity<Team>(e =>
        {
            e.Property(x => x.Name).HasMaxLength(200);
            e.Property(x => x.Description).HasMaxLength(2000);
            e.Property(x => x.TimeZone).HasMaxLength(64);
            e.Property(x => x.HoursJson).HasMaxLength(20000);
            e.Property(x => x.Skills).HasMaxLength(1000);
            e.HasOne<Team>().WithMany().HasForeignKey(x => x.OverflowTeamId).OnDelete(DeleteBehavior.SetNull);
            e.HasIndex(x => x.Name).IsUnique();
        });

        modelBuilder.Entity<TeamMember>(e =>
        {
            e.HasKey(x => new { x.TeamId, x.UserId });
            e.HasOne<Team>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.UserId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => x.UserId);
        });

        OnConsoleModelCreating(modelBuilder);

        IntegrationModel.Configure(modelBuilder);

        KnowledgeModel.Configure(modelBuilder);

        AlertModel.Configure(modelBuilder);
        global::Parley.Data.AiProviderSettings.Configure(modelBuilder);

        global::Parley.Data.ConversationFacts.Configure(modelBuilder);
        global::Parley.Data.ReportRollup.Configure(modelBuilder);

        modelBuilder.Entity<DataProtectionKey>(e =>
        {
            e.Property(x => x.FriendlyName).HasMaxLength(200);
            e.HasIndex(x => x.FriendlyName).IsUnique();
        });

        modelBuilder.Entity<Attachment>(e =>
        {
            e.Property(x => x.FileName).HasMaxLength(255);
            e.Property(x => x.ContentType).HasMaxLength(100);
            e.Property(x => x.StorageKey).HasMaxLength(200);
            e.Property(x => x.AccessKey).HasMaxLength(64);
            e.HasOne<Conversation>().WithMany().HasForeignKey(x => x.ConversationId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => x.ConversationId);
        });

        modelBuilder.Entity<ConversationRating>(e =>
        {
            e.HasKey(x => x.ConversationId);
            e.Property(x => x.Comment).HasMaxLength(2000);
            e.HasOne<Conversation>().WithMany().HasForeignKey(x => x.ConversationId).OnDelete(DeleteBehavior.Cascade);
            // The CSAT report's newest comments, walked newest first (comments only).
            e.HasIndex(x => x.CreatedAt).HasFilter("\"Comment\" IS NOT NULL");
        });

        modelBuilder.Entity<Conversation>()
            .HasOne<Team>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.SetNull);

        modelBuilder.Entity<AttachmentDeletion>(e => e.Property(x => x.StorageKey).HasMaxLength(200));

        // The retention job's scan: closed conversations of a site by closing time.
        modelBuilder.Entity<Conversation>().HasIndex(x => new { x.SiteId, x.Status, x.ClosedAt });
    }

    /// <summary>Canned replies, labels, read markers and contact notes (the agent console's own tables).</summary>
    private static void OnConsoleModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Conversation>().HasIndex(x => x.SnoozedUntil).HasFilter("\"SnoozedUntil\" IS NOT NULL");

        modelBuilder.Entity<CannedReply>(e =>
        {
            e.Property(x => x.Shortcut).HasMaxLength(64);
            e.Property(x => x.Body).HasMaxLength(4000);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.OwnerId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => new { x.OwnerId, x.Shortcut });
        });

        modelBuilder.Entity<CannedReplyTeam>(e =>
        {
            e.HasKey(x => new { x.CannedReplyId, x.TeamId });
            e.HasOne<CannedReply>().WithMany().HasForeignKey(x => x.CannedReplyId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<Team>().WithMany().HasForeignKey(x => x.TeamId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => x.TeamId);
        });

        modelBuilder.Entity<Label>(e =>
        {
            e.Property(x => x.Name).HasMaxLength(64);
            e.Property(x => x.Color).HasMaxLength(16);
            e.HasIndex(x => x.Name).IsUnique();
        });

        modelBuilder.Entity<ConversationLabel>(e =>
        {
            e.HasKey(x => new { x.ConversationId, x.LabelId });
            e.HasOne<Conversation>().WithMany().HasForeignKey(x => x.ConversationId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<Label>().WithMany().HasForeignKey(x => x.LabelId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => x.LabelId);
        });

        modelBuilder.Entity<ReadMarker>(e =>
        {
            e.HasKey(x => new { x.UserId, x.ConversationId });
            e.HasOne<Conversation>().WithMany().HasForeignKey(x => x.ConversationId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.UserId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => x.ConversationId);
        });

        modelBuilder.Entity<ContactNote>(e =>
        {
            e.Property(x => x.Body).HasMaxLength(4000);
            e.Property(x => x.AuthorName).HasMaxLength(200);
            e.HasOne<Contact>().WithMany().HasForeignKey(x => x.ContactId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<User>().WithMany().HasForeignKey(x => x.AuthorId).OnDelete(DeleteBehavior.SetNull);
            e.HasIndex(x => new { x.ContactId, x.CreatedAt });
        });

        modelBuilder.Entity<PageView>(e =>
        {
            e.Property(x => x.Url).HasMaxLength(2048);
            e.Property(x => x.Title).HasMaxLength(500);
            e.HasOne<Contact>().WithMany().HasForeignKey(x => x.ContactId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(x => new { x.ContactId, x.Id });
        });
    }

    private sealed class UtcConverter : ValueConverter<DateTime, DateTime>
    {
        public UtcConverter()
            : base(v => v.Kind == DateTimeKind.Utc ? v : v.ToUniversalTime(), v => DateTime.SpecifyKind(v, DateTimeKind.Utc))
        {
        }
    }
}
